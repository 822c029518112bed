//! A minimal blocking HTTP/1.1 client (GET, and the token POST) over any stream, so TLS verification and the
//! `connect_to` override are exactly the probe's own.

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
    pub fn header(&self, name: &str) -> Option<&str> {
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

pub(crate) fn read_response<S: Read>(stream: &mut S) -> Result<Response, HttpError> {
    let mut r = BufReader::new(stream);
    let mut status_line = Vec::new();
    if read_line(&mut r, &mut status_line)? == 0 {
        return Err(HttpError::Closed);
    }
    let text = String::from_utf8_lossy(&status_line);
    let mut parts = text.trim_end().splitn(3, ' ');
    let version = parts.next().unwrap_or_default();
    let status = parts.next().and_then(|s| s.parse::<u16>().ok());
    let (true, Some(status)) = (version.starts_with("HTTP/1."), status) else {
        status_line.truncate(64);
        return Err(HttpError::NotHttp(status_line));
    };
    let reason = parts.next().unwrap_or_default().to_string();
    let mut headers = Vec::new();
    let mut total = status_line.len();
    loop {
        let mut line = Vec::new();
        let n = read_line(&mut r, &mut line)?;
        total += n;
        if n == 0 || line == b"\r\n" || line == b"\n" || total > MAX_HEADER_BYTES {
            break;
        }
        let line = String::from_utf8_lossy(&line);
        if let Some((k, v)) = line.split_once(':') {
            headers.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    let mut resp = Response {
        status,
        reason,
        headers,
        body: Vec::new(),
    };
    if (100..200).contains(&status) || status == 204 || status == 304 {
        return Ok(resp);
    }
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
        let text = String::from_utf8_lossy(&line);
        let size = text.split(';').next().unwrap_or_default().trim();
        let size = u64::from_str_radix(size, 16)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "bad chunk size"))?;
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
}
