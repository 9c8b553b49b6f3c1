"""nginx in front of the replicas: one public entry and two internal load balancers.

``python -m bot run --profile production --replicas N`` writes this configuration
and runs Debian's nginx with it (:mod:`bot.replicas`):

- the public entry (``WEB_HOST:WEB_PORT``) spreads users over the web gateways;
- ``rasa`` (loopback) spreads the gateways' channel requests and console API calls
  over the Rasa servers;
- ``actions`` (loopback) spreads the Rasa servers' action calls over the action servers.

A Socket.IO session lives in the Rasa server that opened it, and the polling transport
sends each request of it separately: the Rasa balancer reads the owner from the session
id (``sid=``, whose prefix names the replica, :mod:`bot.replica_sessions`) and sends the
request to that server only, never to another one (there it would be an unknown
session). A request without a session id (a new session, a webhook) goes to any Rasa
server that answers. When a session's server dies, its requests fail at once and the
widget opens a new session elsewhere and reloads its history.

The public entry keeps a browser on one gateway with a cookie naming it (``cybot_gw``);
the other gateways are that pool's backups, so when a gateway dies its browsers move on.
Requests that could not reach a server go to the next one; requests a dying server
accepted but never answered are not repeated (a message could be answered twice), the
gateway answers those with a clear "try again" instead.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import List, Sequence

from bot.messages import user_text
from bot.replica_sessions import session_id_prefix
from bot.web.app import RETRY_AFTER_S

#: Seconds a replica that refused a connection is left out before it is tried again.
FAIL_TIMEOUT_S = 2


@dataclass(frozen=True)
class Balancer:
    """One listening address and the replicas behind it."""

    name: str  # gateway | rasa | actions
    listen_port: int
    upstream_ports: Sequence[int]
    #: Name of the cookie keeping a client on one replica ("": no cookie).
    sticky_cookie: str = ""
    listen_host: str = "127.0.0.1"
    #: Send Socket.IO requests to the replica named in their session id.
    route_by_session: bool = False

    def __post_init__(self) -> None:
        if self.sticky_cookie and self.route_by_session:
            raise ValueError(f"balancer {self.name}: route by a cookie or by the session id, not both")


def _server(port: int, backup: bool = False) -> str:
    return f"        server 127.0.0.1:{port} max_fails=1 fail_timeout={FAIL_TIMEOUT_S}s{' backup' if backup else ''};"


def _upstreams(balancer: Balancer) -> List[str]:
    lines = [f"    upstream {balancer.name}_any {{"]
    lines += [_server(port) for port in balancer.upstream_ports]
    lines += ["        keepalive 32;", "    }"]
    if balancer.route_by_session:
        lines += _session_pools(balancer)
    if balancer.sticky_cookie:
        lines += _cookie_pools(balancer)
    return lines


def _session_pools(balancer: Balancer) -> List[str]:
    """One pool per replica holding that replica alone: a session's requests wait for
    its own server or fail, they never go where the session is unknown. (A pool with
    backups would also send them to a backup while nginx re-checks a restarted server.)"""
    lines: List[str] = []
    for index, port in enumerate(balancer.upstream_ports):
        lines += [f"    upstream {balancer.name}_session_{index} {{", _server(port), "        keepalive 8;", "    }"]
    lines.append(f'    map "$uri:$arg_sid" ${balancer.name}_pool {{')
    for index in range(len(balancer.upstream_ports)):
        prefix = re.escape(session_id_prefix(index))
        lines.append(f'        "~^/socket\\.io/:{prefix}" {balancer.name}_session_{index};')
    lines += [f"        default {balancer.name}_any;", "    }"]
    return lines


def _cookie_pools(balancer: Balancer) -> List[str]:
    lines: List[str] = []
    for index, port in enumerate(balancer.upstream_ports):
        lines.append(f"    upstream {balancer.name}_{index} {{")
        lines.append(_server(port))
        lines += [_server(other, backup=True) for other in balancer.upstream_ports if other != port]
        lines += ["        keepalive 8;", "    }"]
    cookie = balancer.sticky_cookie
    lines.append(f"    map $cookie_{cookie} ${balancer.name}_pool {{")
    lines += [f"        {index} {balancer.name}_{index};" for index in range(len(balancer.upstream_ports))]
    lines += [f"        default {balancer.name}_any;", "    }"]
    # After the request: which replica answered, as the cookie's value. $upstream_addr
    # lists every server tried ("A, B" when A refused): the last one answered.
    lines.append(f"    map $upstream_addr ${balancer.name}_route {{")
    lines += [
        f'        "~(^|, )127\\.0\\.0\\.1:{port}$" {index};' for index, port in enumerate(balancer.upstream_ports)
    ]
    lines += ['        default "";', "    }"]
    return lines


def _server_block(balancer: Balancer) -> List[str]:
    routed = balancer.sticky_cookie or balancer.route_by_session
    target = f"${balancer.name}_pool" if routed else f"{balancer.name}_any"
    lines = [
        "    server {",
        f"        listen {balancer.listen_host}:{balancer.listen_port};",
        "        location / {",
        f"            proxy_pass http://{target};",
        "            proxy_http_version 1.1;",
        "            proxy_set_header Host $http_host;",
        "            proxy_set_header Upgrade $http_upgrade;",
        "            proxy_set_header Connection $connection_upgrade;",
    ]
    if balancer.name == "gateway":
        lines += [
            "            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;",
            "            proxy_set_header X-Forwarded-Proto $scheme;",
        ]
    else:
        # Internal hops keep what the gateway says about the user.
        lines.append("            proxy_set_header X-Forwarded-For $http_x_forwarded_for;")
    if balancer.name == "gateway":
        # A gateway that died mid-request: the user is told to send again, at once.
        lines.append("            error_page 502 504 = @unavailable;")
    if balancer.sticky_cookie:
        cookie = balancer.sticky_cookie
        attributes = "Path=/; HttpOnly; SameSite=Lax"
        lines.append(f'            add_header Set-Cookie "{cookie}=${balancer.name}_route; {attributes}" always;')
    lines += [
        "            proxy_next_upstream error timeout;",
        "            proxy_next_upstream_tries 0;",
        "            proxy_connect_timeout 2s;",
        "            proxy_read_timeout 120s;",
        "            proxy_send_timeout 120s;",
        # Console live updates and long-polls go through unbuffered.
        "            proxy_buffering off;",
        "            proxy_request_buffering on;",
        "            proxy_max_temp_file_size 0;",
        "        }",
    ]
    if balancer.name == "gateway":
        lines += [
            "        location @unavailable {",
            "            default_type application/json;",
            f'            add_header Retry-After {RETRY_AFTER_S} always;',
            "            return 503 $unavailable_body;",
            "        }",
        ]
    lines.append("    }")
    return lines


def _unavailable_bodies() -> List[str]:
    """What the public entry answers when the gateway it chose died mid-request: the
    gateway's own answer for that case (REST: as the assistant's reply)."""
    text = user_text("channel.unavailable")
    rest = json.dumps([{"text": text, "unavailable": True}], ensure_ascii=False)
    other = json.dumps({"error": text}, ensure_ascii=False)
    assert "'" not in rest + other
    return [
        "    map $uri $unavailable_body {",
        f"        ~^/webhooks/rest/ '{rest}';",
        f"        default '{other}';",
        "    }",
    ]


def nginx_config(balancers: Sequence[Balancer], run_dir: Path, *, run_as_root: bool = False) -> str:
    """The complete nginx.conf (foreground, logs and temporary files in ``run_dir``)."""
    lines = [
        "# Generated by python -m bot run --replicas; do not edit.",
        "daemon off;",
        "worker_processes 1;",
        f"pid {run_dir / 'nginx.pid'};",
        f"error_log {run_dir / 'error.log'} warn;",
    ]
    if run_as_root:
        lines.append("user root;")  # its workers read nothing but this configuration
    lines += [
        "events { worker_connections 4096; }",
        "http {",
        f"    access_log {run_dir / 'access.log'};",
        f"    client_body_temp_path {run_dir / 'body'};",
        f"    proxy_temp_path {run_dir / 'proxy'};",
        f"    fastcgi_temp_path {run_dir / 'fastcgi'};",
        f"    uwsgi_temp_path {run_dir / 'uwsgi'};",
        f"    scgi_temp_path {run_dir / 'scgi'};",
        "    client_max_body_size 1m;",
        "    client_body_buffer_size 1m;",
        "    map $http_upgrade $connection_upgrade { default upgrade; '' ''; }",
        *_unavailable_bodies(),
    ]
    for balancer in balancers:
        lines += _upstreams(balancer)
    for balancer in balancers:
        lines += _server_block(balancer)
    lines.append("}")
    return "\n".join(lines) + "\n"
