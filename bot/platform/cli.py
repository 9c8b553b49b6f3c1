"""``python -m bot import-export DIR``: import the platforms' CSV export.

    python -m bot import-export /path/to/export            # progress bar, summary, bad rows
    python -m bot import-export DIR --database-url URL     # another database than the configured one
    python -m bot import-export DIR --wait                 # return once the assistant serves the new data

A running assistant stops offering what the import retired within seconds (its
action server checks the data every few seconds and filters withdrawn rows at once);
new and changed rows are served when its new matching index is built. ``--wait``
waits for that (up to ``--wait-seconds``) and says when the new data is served.

Exit status: 0 every row imported; 1 imported, but some rows were rejected (listed
with file, line and reason); 2 nothing imported (missing file or column, database
error) — the previous data is untouched; 3 imported, but no assistant served the new
data within ``--wait-seconds`` (is the action server running?).
"""
from __future__ import annotations

import argparse
import sys
import time
from typing import Optional

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
    status = 1 if report.problems else 0
    if not report.changed:
        return status
    if not args.wait:
        print(f"运行中的助手将在几秒内停止推荐已停用的条目；新数据（版本 {report.data_version}）在匹配索引重建后提供"
              "（加 --wait 可等待并确认）。")
        return status
    waited = wait_until_served(report.data_version, args.database_url, args.wait_seconds)
    if waited is None:
        print(f"error: {args.wait_seconds:.0f} 秒内没有助手开始提供新数据（版本 {report.data_version}）："
              "动作服务器是否在运行？数据已导入，助手启动或检查到数据后即会提供。", file=sys.stderr)
        return 3
    print(f"新数据（版本 {report.data_version}）已在提供服务（导入后 {waited:.1f} 秒）。")
    return status


def wait_until_served(version: int, url: Optional[str], timeout: float, poll: float = 0.5) -> Optional[float]:
    """Seconds until an action server recorded serving ``version``; ``None`` at ``timeout``."""
    from bot.platform.db import served_data_version, session_scope

    started = time.monotonic()
    while True:
        with session_scope(url) as session:
            if served_data_version(session) >= version:
                return time.monotonic() - started
        if time.monotonic() - started >= timeout:
            return None
        time.sleep(poll)


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    """Register ``import-export`` on ``python -m bot``'s sub-command parser."""
    command = subparsers.add_parser(
        "import-export", help="import the platforms' CSV export (companies, products, demands, experts)"
    )
    command.add_argument("directory", help="folder holding companies.csv, products.csv, demands.csv, experts.csv")
    command.add_argument("--database-url", default=None, help="SQLAlchemy URL (default: PLATFORM_DATABASE_URL)")
    command.add_argument("--quiet", action="store_true", help="no progress bar")
    command.add_argument("--wait", action="store_true",
                         help="return once a running assistant serves the new data (exit 3 on timeout)")
    command.add_argument("--wait-seconds", type=float, default=300.0, help="how long --wait waits (default 300)")
    command.set_defaults(func=cmd_import_export)
