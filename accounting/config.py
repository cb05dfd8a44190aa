"""The ``[accounting]`` config section."""
from __future__ import annotations

from dataclasses import dataclass

from aaad.config import ip_address, non_negative, port, positive, setting


@dataclass(frozen=True)
class AccountingConfig:
    """The RADIUS accounting server, sessions, usage buckets, quotas and RRD graphs."""
    address: str = setting("0.0.0.0", "Address the accounting listener binds.", ip_address)
    port: int = setting(1813, "UDP port for Accounting-Request; 0 picks a free one.", port)
    dedup_window: float = setting(5.0,
                                  "Seconds a reply is kept to answer retransmissions of the same request byte for "
                                  "byte (retransmissions are idempotent anyway).", positive)
    socket_buffer: int = setting(4 * 1024 * 1024,
                                 "Receive buffer (bytes) asked of the kernel for the UDP socket.", positive)
    stale_grace: int = setting(300,
                               "Seconds added to twice a session's interim interval before a session with no update "
                               "is closed as stale (Acct-Terminate-Cause Lost-Service).", non_negative)
    default_interim: int = setting(300,
                                   "Interim interval (seconds) assumed for a session whose NAS and profile say none.",
                                   positive)
    aggregation_interval: int = setting(300,
                                        "Seconds between usage aggregation runs (counters into 5-minute buckets). "
                                        "Keep 300: buckets are 5-minute slots.", positive)
    aggregation_chunk: int = setting(5000,
                                     "Sessions aggregated per database transaction; a chunk holds the writer for a "
                                     "moment only.", positive)
    retention_5m: int = setting(7, "Days 5-minute usage buckets are kept.", positive)
    retention_hourly: int = setting(90, "Days hourly usage buckets are kept.", positive)
    retention_daily: int = setting(3 * 365, "Days daily usage buckets are kept.", positive)
    retention_sessions: int = setting(365,
                                      "Days a closed session's row is kept after its stop time (its octets live on in "
                                      "the usage buckets); 0 keeps them for ever. Pruned hourly in chunks of "
                                      "aggregation_chunk rows; sessions not yet aggregated are never pruned.",
                                      non_negative)
    max_delay: int = setting(86400,
                             "Largest Acct-Delay-Time (seconds) believed; a larger one is clamped to it and counted "
                             "in acct_anomalies_total{kind=\"delay_clamped\"} (a NAS that buffered accounting for "
                             "longer than this is recorded as if it had waited this long).", positive)
    max_session_time: int = setting(366 * 86400,
                                    "Largest Acct-Session-Time (seconds) believed; a larger one is clamped to it and "
                                    "counted in acct_anomalies_total{kind=\"session_time_clamped\"}.", positive)
    rrd_enabled: bool = setting(True,
                                "Feed per-login RRD files for traffic graphs after each aggregation (disabled with a "
                                "log line if the rrdtool module cannot be imported).")
    rrd_dir: str = setting("", "Directory of the RRD files. Empty: <data_dir>/rrd.")
    rrdcached: str = setting("", "rrdcached address (e.g. unix:/run/rrdcached.sock). Empty: write the files directly.")
    rrd_threads: int = setting(2, "Threads for rrdtool calls (librrd blocks; more than two buys little).", positive)
    tracker_refresh: float = setting(60.0,
                                     "Seconds between re-reads of the per-login open-session counts and cycle usage "
                                     "from the database. Between refreshes an instance counts only the sessions it "
                                     "saw itself, so with several instances behind the same NAS routers a count may "
                                     "lag by up to this long (simultaneous-use then over- or under-counts by the "
                                     "sessions another instance saw meanwhile).", positive)
    provisional_timeout: float = setting(30.0,
                                         "Seconds an Access-Accept of a login with a simultaneous-use limit (a "
                                         "voucher's shared users) counts as a session while its Accounting-Start "
                                         "has not arrived, so requests arriving together get exactly the allowed "
                                         "number of accepts. Counted per instance.", positive)
