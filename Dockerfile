# syntax=docker/dockerfile:1
#
# The podwire image: one Rust binary (linked to glibc only) on distroless.
#
# Build for this machine:
#   docker buildx build -t ghcr.io/podwire/podwire:0.1.0 --load .
# Build and push both architectures (the non-native one builds natively
# inside QEMU emulation: slow, but needs no cross toolchain; install the
# emulators once with `docker run --privileged --rm tonistiigi/binfmt --install arm64`):
#   docker buildx build --platform linux/amd64,linux/arm64 \
#     -t ghcr.io/podwire/podwire:0.1.0 --push .
#
# The eBPF object (bpf/conn.bpf.o) is committed and compiled into the binary,
# so no clang/LLVM is needed here, and the agent downloads nothing when it
# starts (air-gapped clusters only need this image).

# The runtime base. For a reproducible release, pin it by digest:
#   --build-arg BASE_IMAGE=gcr.io/distroless/cc-debian12@sha256:...
ARG BASE_IMAGE=gcr.io/distroless/cc-debian12:latest

FROM rust:1.95-bookworm AS build
# Set by buildx for each platform of --platform (amd64, arm64).
ARG TARGETARCH
WORKDIR /src
COPY . .
# Cache mounts: the crates.io registry (shared, locked) and the target
# directory (one per platform, so amd64 and arm64 objects never mix).
RUN --mount=type=cache,id=podwire-cargo-registry,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,id=podwire-cargo-git,target=/usr/local/cargo/git,sharing=locked \
    --mount=type=cache,id=podwire-target-${TARGETARCH},target=/src/target,sharing=locked \
    cargo build --release --locked -p podwire \
 && install -D -m 0755 target/release/podwire /out/podwire

# libpcap, for capture filters in tcpdump's syntax (`podwire sniff -f`): the
# agent loads it at run time (dlopen), so it is copied with the libraries it
# needs, found by ldd, into a directory the loader searches by default.
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
RUN apt-get update \
 && apt-get install -y --no-install-recommends libpcap0.8=1.10.3-1 \
 && rm -rf /var/lib/apt/lists/* \
 && lib="$(dpkg -L libpcap0.8 | grep -E '/libpcap\.so\.0\.8$')" \
 && mkdir -p /out/lib \
 && cp -L "$lib" /out/lib/ \
 && ldd "$lib" | awk '$3 ~ /^\// { print $3 }' \
      | grep -v -E '/(libc|libm|libgcc_s|libpthread|libdl|ld-linux[^/]*)\.so' \
      | xargs -r cp -L -t /out/lib/

# glibc, libgcc and CA certificates, no shell, no package manager. The
# default (root) variant: the agent runs as uid 0 with all capabilities
# dropped but BPF, PERFMON, NET_RAW and NET_ADMIN (see
# deploy/helm/podwire/README.md for why not a non-root uid).
FROM ${BASE_IMAGE}
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="podwire" \
      org.opencontainers.image.description="Shows what workloads say to each other on the network: eBPF + AF_PACKET agent with an HTTP API and Prometheus metrics." \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.vendor="podwire" \
      org.opencontainers.image.base.name="gcr.io/distroless/cc-debian12"
COPY --from=build /out/podwire /usr/local/bin/podwire
# libpcap and what it links to, beside (not over) the base image's glibc.
COPY --from=build /out/lib/ /usr/local/lib/podwire/
ENV LD_LIBRARY_PATH=/usr/local/lib/podwire
# The API and /metrics (PODWIRE_LISTEN; the binary's own default is
# 127.0.0.1:6676, the chart sets 0.0.0.0:6676).
EXPOSE 6676
ENTRYPOINT ["/usr/local/bin/podwire"]
CMD ["agent"]
