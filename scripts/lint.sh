#!/bin/sh
# The style checks `make test` and CI run: swift-format's lint with the repository's
# .swift-format (`make format` fixes what it can), and the size rule: a file in Sources over
# 400 lines says why at its top ("Over 400 lines: …") or is split.
set -eu
cd "$(dirname "$0")/.."
swift format lint --strict --parallel --recursive Sources Tests Package.swift
status=0
for file in $(find Sources -name '*.swift' | sort); do
    lines=$(wc -l < "$file")
    if [ "$lines" -gt 400 ] && ! head -n 8 "$file" | grep -q "Over 400 lines:"; then
        echo "$file: $lines lines; split it, or say why at its top (// Over 400 lines: …)" >&2
        status=1
    fi
done
exit $status
