//! A minimal blocking HTTP/1.1 client (GET, and the token POST) over any stream, so TLS
//! verification and the `connect_to` override are exactly the probe's own. httparse
//! reads the response head and chunk sizes; this module only frames the body.

use std::borrow::Cow;
use std::io::{self, BufRead, BufReader, Read, Write};

/// Registries answer `/v2/` and token requests with small bodies; anything larger is
/// not worth reading for a diagnosis.
const MAX_HEADER_BYTES: usize = 64 * 1024;
const MAX_BODY_BYTES: u64 = 1024 * 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Response {
    pub status: u16,
    pub reason: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub(super) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Debug)]
pub(crate) enum HttpError {
    Io(io::Error),
    /// The peer answered with something that is not HTTP/1.x; its first bytes.
    NotHttp(Vec<u8>),
    /// The peer closed without a byte of response.
    Closed,
}

impl From<io::Error> for HttpError {
    fn from(e: io::Error) -> Self {
        HttpError::Io(e)
    }
}

/// Sends `METHOD path` (with `body`, if any) and `Connection: close`, and reads the
/// whole response.
pub(crate) fn request<S: Read + Write>(
    stream: &mut S,
    method: &str,
    authority: &str,
    path: &str,
    headers: &[(&str, String)],
    body: &[u8],
) -> Result<Response, HttpError> {
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {authority}\r\nUser-Agent: bkenv-probe\r\nAccept: */*\r\nConnection: close\r\n"
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    if !body.is_empty() {
        req.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    req.push_str("\r\n");
    let mut bytes = req.into_bytes();
    bytes.extend_from_slice(body);
    stream.write_all(&bytes)?;
    stream.flush()?;
    read_response(stream)
}

/// Most header lines a response may have; registries send a dozen.
const MAX_HEADERS: usize = 100;

pub(crate) fn read_response<S: Read>(stream: &mut S) -> Result<Response, HttpError> {
    let (mut resp, rest) = read_head(stream)?;
    if (100..200).contains(&resp.status) || resp.status == 204 || resp.status == 304 {
        return Ok(resp);
    }
    // The bytes read past the head are the start of the body.
    let mut r = BufReader::new(io::Cursor::new(rest).chain(stream));
    let chunked = resp
        .header("Transfer-Encoding")
        .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
    if chunked {
        resp.body = read_chunked(&mut r)?;
    } else if let Some(len) = resp
        .header("Content-Length")
        .and_then(|v| v.parse::<u64>().ok())
    {
        r.take(len.min(MAX_BODY_BYTES))
            .read_to_end(&mut resp.body)?;
    } else {
        read_to_eof(&mut r, &mut resp.body)?;
    }
    Ok(resp)
}

/// Reads until httparse has the whole status line and headers; returns the response
/// without its body, and the bytes read past the head.
fn read_head<S: Read>(stream: &mut S) -> Result<(Response, Vec<u8>), HttpError> {
    // Be as forgiving as the client BuildKit uses: a malformed header line is skipped.
    let mut config = httparse::ParserConfig::default();
    config.ignore_invalid_headers_in_responses(true);
    let mut buf: Vec<u8> = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = stream.read(&mut chunk)?;
        if n == 0 && buf.is_empty() {
            return Err(HttpError::Closed);
        }
        buf.extend_from_slice(&chunk[..n]);
        // A peer that closes early ends the head where it stopped.
        let input: Cow<'_, [u8]> = if n == 0 {
            Cow::Owned([&buf[..], b"\r\n\r\n"].concat())
        } else {
            Cow::Borrowed(&buf)
        };
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut parsed = httparse::Response::new(&mut headers);
        match config.parse_response(&mut parsed, &input) {
            Ok(httparse::Status::Complete(len)) => {
                let resp = Response {
                    status: parsed.code.unwrap_or_default(),
                    reason: parsed.reason.unwrap_or_default().to_string(),
                    headers: parsed
                        .headers
                        .iter()
                        .map(|h| {
                            let v = String::from_utf8_lossy(h.value).trim().to_string();
                            (h.name.to_string(), v)
                        })
                        .collect(),
                    body: Vec::new(),
                };
                let rest = buf.get(len..).unwrap_or_default().to_vec();
                return Ok((resp, rest));
            }
            Ok(httparse::Status::Partial) if n > 0 && buf.len() <= MAX_HEADER_BYTES => {}
            _ => return Err(HttpError::NotHttp(first_line(&buf))),
        }
    }
}

/// The first line of what the peer sent (at most 64 bytes), to say what it is.
fn first_line(buf: &[u8]) -> Vec<u8> {
    let end = buf
        .iter()
        .position(|b| *b == b'\n')
        .map_or(buf.len(), |i| i + 1);
    buf[..end.min(64)].to_vec()
}

fn read_line<R: BufRead>(r: &mut R, line: &mut Vec<u8>) -> io::Result<usize> {
    r.by_ref()
        .take(MAX_HEADER_BYTES as u64)
        .read_until(b'\n', line)
}

fn read_chunked<R: BufRead>(r: &mut R) -> io::Result<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let mut line = Vec::new();
        if read_line(r, &mut line)? == 0 {
            return Ok(body);
        }
        let size = match httparse::parse_chunk_size(&line) {
            Ok(httparse::Status::Complete((_, size))) => size,
            _ => {
                return Err(io::Error::new(io::ErrorKind::InvalidData, "bad chunk size"));
            }
        };
        if size == 0 {
            // Trailers end at an empty line; a server closing early is just as final.
            loop {
                let mut t = Vec::new();
                if read_line(r, &mut t)? == 0 || t == b"\r\n" || t == b"\n" {
                    return Ok(body);
                }
            }
        }
        if body.len() as u64 + size > MAX_BODY_BYTES {
            return Ok(body);
        }
        r.take(size).read_to_end(&mut body)?;
        let mut crlf = Vec::new();
        read_line(r, &mut crlf)?;
    }
}

fn read_to_eof<R: Read>(r: &mut R, body: &mut Vec<u8>) -> io::Result<()> {
    match r.take(MAX_BODY_BYTES).read_to_end(body) {
        // Many servers close TLS without close_notify once a close-delimited body ends.
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(()),
        other => other.map(|_| ()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(raw: &[u8]) -> Result<Response, HttpError> {
        read_response(&mut io::Cursor::new(raw.to_vec()))
    }

    #[test]
    fn reads_content_length_chunked_and_eof_bodies() {
        let r = parse(b"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"r\"\r\nContent-Length: 2\r\n\r\n{}extra").unwrap();
        assert_eq!((r.status, r.body.as_slice()), (401, &b"{}"[..]));
        assert_eq!(r.header("www-authenticate"), Some("Basic realm=\"r\""));
        let r = parse(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n2\r\nde\r\n0\r\n\r\n").unwrap();
        assert_eq!(r.body, b"abcde");
        let r = parse(b"HTTP/1.0 200 OK\r\n\r\nuntil eof").unwrap();
        assert_eq!(r.body, b"until eof");
    }

    #[test]
    fn recognises_non_http_and_silence() {
        assert!(
            matches!(parse(b"\x15\x03\x03\x00\x02\x02\x32"), Err(HttpError::NotHttp(h)) if h[0] == 0x15)
        );
        assert!(matches!(parse(b""), Err(HttpError::Closed)));
    }

    #[test]
    fn a_head_cut_short_by_the_peer_still_reads() {
        let r = parse(b"HTTP/1.1 200 OK\r\n").unwrap();
        assert_eq!((r.status, r.reason.as_str()), (200, "OK"));
        let r = parse(b"HTTP/1.1 401 Unauthorized\r\nbad header line\r\nX-A: b\r\n\r\n").unwrap();
        assert_eq!(r.header("x-a"), Some("b"));
        assert!(
            matches!(parse(b"SSH-2.0-OpenSSH_9.6\r\nmore"), Err(HttpError::NotHttp(h)) if h == b"SSH-2.0-OpenSSH_9.6\r\n")
        );
    }
}
