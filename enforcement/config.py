"""The ``[enforcement]`` config section: how aaad talks to the routers."""
from __future__ import annotations

from dataclasses import dataclass

from aaad.config import ip_address, non_negative, positive, setting, wall_time


@dataclass(frozen=True)
class EnforcementConfig:
    """CoA/Disconnect (RFC 5176) towards the NAS routers, the RouterOS API and the action queue."""
    enabled: bool = setting(True, "Act on login changes: disconnect the sessions of a suspended, disabled or "
                                  "removed login, send a CoA with the new rate on a plan change or FUP tier. "
                                  "Off: nothing is decided or sent (the routers apply changes at the next "
                                  "reconnect only).")
    source_address: str = setting("0.0.0.0", "Local address CoA/Disconnect requests are sent from (the NAS "
                                             "must accept requests from it: RouterOS /radius incoming).",
                                  ip_address)
    coa_timeout: float = setting(1.0, "Seconds before the first retransmission of a CoA/Disconnect-Request; "
                                      "each retransmission waits twice as long as the one before.", positive)
    coa_attempts: int = setting(4, "Times a request is sent before it counts as timed out (the same packet: "
                                   "same identifier and authenticator).", positive)
    coa_max_time: float = setting(8.0, "Upper bound, in seconds, on the time spent on one request, "
                                       "retransmissions included.", positive)
    in_flight_per_nas: int = setting(64, "Requests outstanding at once towards one NAS, 1 to 256 (RADIUS has "
                                         "256 identifiers); more wait their turn (a mass plan change does not "
                                         "flood a router).", lambda v: None if 1 <= v <= 256 else "1 to 256")
    max_rate: float = setting(400.0, "CoA/Disconnect-Requests sent per second at most, all routers together "
                                     "(a mass plan change is spread out so RADIUS keeps its latency: each "
                                     "request costs the daemon about 0.25 ms); 0: no limit.", non_negative)
    poll_interval: float = setting(1.0, "Seconds between looks for pending actions written by another process "
                                        "(`aaad disconnect`) or left by a restart; actions this process "
                                        "decides are sent at once.", positive)
    api_fallback: bool = setting(True, "When a Disconnect-Request is NAK'd (other than 'session not found') "
                                       "or times out and the NAS has RouterOS API credentials, remove the "
                                       "session through the API instead (/ppp/active, /ip/hotspot/active).")
    api_threads: int = setting(4, "Threads for RouterOS API calls (their own pool: a slow router never "
                                  "stalls RADIUS or the database).", positive)
    api_timeout: float = setting(5.0, "Connect and read timeout, in seconds, of a RouterOS API call.", positive)
    status_at: str = setting("03:30", "Local time of the daily router status check (reachability, RouterOS "
                                      "version, board, identity); also run after any failure and by "
                                      "`aaad nas status`.", wall_time)
    keep_days: float = setting(30, "Days finished actions are kept (pending ones are never pruned).",
                               non_negative)
