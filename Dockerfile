# One image for every role of a deployed cluster (relay, coordinator,
# devices): the static `rocknet` binary and nothing else. There is no image
# registry to pull a base from, hence FROM scratch. Build it with
# scripts/docker-build.sh (which builds the musl binary into the context).
FROM scratch
COPY rocknet /bin/rocknet
ENV PATH=/bin
ENTRYPOINT ["/bin/rocknet"]
CMD ["--help"]
