#!/bin/sh
# Writes Sources/ChatServer/OpenAPIDocument.swift from docs/openapi.yaml, so that chatd
# serves the document (at /api/openapi.yaml) with no file to install beside the binary.
# OpenAPIDocumentTests fails when the two differ: run this after editing the YAML.
set -eu
cd "$(dirname "$0")/.."
out=Sources/ChatServer/OpenAPIDocument.swift
if grep -q '"""#' docs/openapi.yaml; then echo 'docs/openapi.yaml must not contain """#' >&2; exit 1; fi
{
    echo '// Generated from docs/openapi.yaml by scripts/gen-openapi.sh; do not edit.'
    echo '// Over 400 lines: it is the whole document, one string.'
    echo ''
    echo '/// The OpenAPI document of chatd'"'"'s HTTP endpoints, served at `/api/openapi.yaml`.'
    echo 'enum OpenAPIDocument {'
    echo '    static let path = "/api/openapi.yaml"'
    echo '    static let yaml = #"""'
    sed -e 's/^\(.\)/        \1/' docs/openapi.yaml
    echo '        """#'
    echo '}'
} > "$out"
echo "wrote $out"
