"""Write the service's OpenAPI document to ``serving/openapi.json`` (or check it).

Run ``python -m serving.openapi`` after changing a route or a schema; the tests fail
while the committed document differs from the one the app produces. ``--check``
only compares.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from ghost_model.settings import Settings

OPENAPI_PATH = Path(__file__).with_name("openapi.json")


def build_openapi() -> dict[str, Any]:
    """The OpenAPI document of the app (no model is loaded to build it)."""
    from serving.app import create_app

    app = create_app(Settings(allow_unauthenticated=True), settle_gc=False)
    document: dict[str, Any] = app.openapi()
    return document


def render_openapi(document: dict[str, Any]) -> str:
    """The document as committed: indented, keys in the app's order, final newline."""
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Write (or with ``--check`` compare) ``serving/openapi.json``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only compare; exit 1")
    parser.add_argument("--out", type=Path, default=OPENAPI_PATH)
    args = parser.parse_args(argv)
    text = render_openapi(build_openapi())
    if args.check:
        current = args.out.read_text(encoding="utf-8") if args.out.exists() else ""
        if current != text:
            print(
                f"{args.out} is out of date; run python -m serving.openapi",
                file=sys.stderr,
            )
            return 1
        return 0
    args.out.write_text(text, encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
