#!/usr/bin/env python3
"""Embeds docs/openapi.yaml in the node, for GET /openapi.json.

Usage: openapi_embed.py docs/openapi.yaml OUT.h

Reads the hand-written contract (OpenAPI 3.0.3, YAML with anchors) and writes a
C++ header holding it as compact JSON in OpenAPI 3.1 form, which the node
builds its per-table document from (core/http/openapi.cc). The one 3.0-only
keyword the contract uses is rewritten: `nullable: true` becomes a "null"
member of `type`. Anchors and aliases are expanded by the YAML loader.
Run at build time, so the contract is written once and cannot drift from what
the node serves.
"""

import json
import sys

import yaml


def to_31(node):
    """The 3.1 form of a 3.0 schema fragment, recursively."""
    if isinstance(node, list):
        return [to_31(v) for v in node]
    if not isinstance(node, dict):
        return node
    out = {k: to_31(v) for k, v in node.items() if k != "nullable"}
    if node.get("nullable") is True and isinstance(out.get("type"), str):
        out["type"] = [out["type"], "null"]
    return out


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: openapi_embed.py openapi.yaml out.h")
    source, target = sys.argv[1], sys.argv[2]
    with open(source, encoding="utf-8") as f:
        spec = yaml.safe_load(f)
    if not isinstance(spec, dict) or "paths" not in spec or "components" not in spec:
        sys.exit(f"{source}: not an OpenAPI document with paths and components")
    spec = to_31(spec)
    spec["openapi"] = "3.1.0"
    text = json.dumps(spec, ensure_ascii=False, separators=(",", ":"), sort_keys=False)
    delimiter = "openapi"
    if f'){delimiter}"' in text:
        sys.exit(f"{source}: the text holds the raw string's delimiter")
    # A raw string literal per 16 KiB piece: compilers bound one literal's length.
    pieces = [text[i:i + 16384] for i in range(0, len(text), 16384)]
    body = "\n".join(f'    R"{delimiter}({p}){delimiter}"' for p in pieces)
    header = (
        "// Generated from docs/openapi.yaml by cmake/openapi_embed.py: do not edit.\n"
        "#pragma once\n\n"
        "namespace clusterlite {\n\n"
        "// docs/openapi.yaml as OpenAPI 3.1 JSON.\n"
        "inline constexpr const char kOpenApiContract[] =\n"
        f"{body};\n\n"
        "}  // namespace clusterlite\n"
    )
    with open(target, "w", encoding="utf-8") as f:
        f.write(header)


if __name__ == "__main__":
    main()
