"""``python -m bot import-export DIR``: import the platforms' CSV export.

    python -m bot import-export /path/to/export            # progress bar, summary, bad rows
    python -m bot import-export DIR --database-url URL     # another database than the configured one

Exit status: 0 every row imported; 1 imported, but some rows were rejected (listed
with file, line and reason); 2 nothing imported (missing file or column, database
error) — the previous data is untouched.
"""
from __future__ import annotations

import argparse
import sys

from sqlalchemy.exc import SQLAlchemyError


def cmd_import_export(args: argparse.Namespace) -> int:
    from bot.platform.importer import ExportFormatError, import_export

    try:
        report = import_export(args.directory, args.database_url, progress=not args.quiet)
    except ExportFormatError as error:
        print(f"error: {error}（未导入任何数据）", file=sys.stderr)
        return 2
    except SQLAlchemyError as error:
        print(f"error: 数据库错误，已回滚，原有数据未改变：{error}", file=sys.stderr)
        return 2
    print(report.summary())
    rate = report.rows_read / report.seconds if report.seconds else 0
    print(f"用时 {report.seconds:.1f} 秒（{rate:,.0f} 行/秒）；数据{'已更新' if report.changed else '无变化'}")
    return 1 if report.problems else 0


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    """Register ``import-export`` on ``python -m bot``'s sub-command parser."""
    command = subparsers.add_parser(
        "import-export", help="import the platforms' CSV export (companies, products, demands, experts)"
    )
    command.add_argument("directory", help="folder holding companies.csv, products.csv, demands.csv, experts.csv")
    command.add_argument("--database-url", default=None, help="SQLAlchemy URL (default: PLATFORM_DATABASE_URL)")
    command.add_argument("--quiet", action="store_true", help="no progress bar")
    command.set_defaults(func=cmd_import_export)
