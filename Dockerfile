# A small image holding only a static bkenv (x86_64 Linux; the final stage is FROM scratch).
#
#   docker build --build-arg BKENV_BUILD_COMMIT="$(git log -1 --format='%h %cs' --abbrev=12)" -t bkenv .
#   docker run --rm -v "$PWD:/work" -w /work bkenv preflight . --offline
#
# The `build` stage compiles bkenv with glibc statically linked. A directory holding a
# prebuilt static `bkenv` and `etc/ssl/certs/ca-certificates.crt` can replace it (then no
# base image is pulled), which is how the test suite builds this image (tests/e2e/image.rs):
#   buildctl build ... --local bin=DIR --opt context:build=local:bin

ARG RUST_IMAGE=docker.io/library/rust:1-slim-bookworm

FROM ${RUST_IMAGE} AS build
WORKDIR /src
COPY . .
# `.git` is not in the context (.dockerignore): pass the commit for `bkenv --version`.
ARG BKENV_BUILD_COMMIT
RUN RUSTFLAGS="-C target-feature=+crt-static" \
    cargo build --locked --release --target x86_64-unknown-linux-gnu \
 && cp target/x86_64-unknown-linux-gnu/release/bkenv /bkenv \
 && /bkenv --version

FROM scratch
COPY --from=build /bkenv /bkenv
# The system roots, for registries with public certificates (BuildKit's default trust).
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
WORKDIR /work
ENTRYPOINT ["/bkenv"]
CMD ["--help"]
