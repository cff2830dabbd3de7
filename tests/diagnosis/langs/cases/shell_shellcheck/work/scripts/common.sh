#!/usr/bin/env bash
# Helpers shared by the deployment scripts.

log() {
    printf '[%s] %s\n' "$(date -u +%FT%TZ)" "$*" >&2
}

die() {
    log "error: $*"
    exit 1
}
