"""Per-login round-robin databases of traffic and the PNG graphs drawn from them.

One RRD file per login at ``<rrd_dir>/<org_id>/<login_id>.rrd``, created the
first time the login has usage to record. The accounting aggregator feeds it
one row per login and five-minute slot: the bytes moved in that slot.

Directions, from the subscriber's point of view:

* ``rx`` (download) is what the user *received*: Acct-Output-Octets, because
  the NAS counts it as output towards the user.
* ``tx`` (upload) is what the user *sent*: Acct-Input-Octets.

Both data sources are ABSOLUTE: each update carries the bytes of one slot and
rrdtool divides by the time since the previous update, so the file stores
bytes per second (a 300-byte slot reads back as 1.0). An update for a slot
``[s, s+300)`` is written at ``s+300``. When a login skips slots (no usage,
no row) a zero update is first written at ``s``, so the slot's bytes are not
smeared over the gap; a gap longer than the 600 s heartbeat reads back as
unknown rather than zero. A slot that is not newer than the file's last
update (a replay or a late row) is skipped and counted, not an error.

Every librrd call blocks (disk, or the rrdcached socket), so every one runs
through the injected ``run_in_thread``: the app gives a small dedicated,
bounded Twisted ThreadPool (librrd talks to rrdcached over one connection
per process, so more than a couple of threads buys nothing). With a clock,
each caller-facing call fails with ``TimeoutError`` after ``timeout``
seconds; the thread itself cannot be interrupted and finishes in the
background, its result discarded.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import rrdtool
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger

T = TypeVar("T")

#: ``run_in_thread(f, *args)`` runs ``f(*args)`` off the reactor and returns a
#: Deferred of its result (``deferToThreadPool(reactor, pool, ...)`` in the app).
RunInThread = Callable[..., Deferred[Any]]

#: One row for :meth:`RrdStore.update_many`: org, login, slot start, rx bytes, tx bytes.
UsageRow = tuple[int, int, datetime, int, int]

STEP = 300
HEARTBEAT = 600

#: Archives: (primary data points per row, rows). 5 min for 2 days, 1 h for
#: 60 days, 1 day for 2 years, 30 days for 10 years; each kept as AVERAGE and MAX.
ARCHIVES: tuple[tuple[int, int], ...] = (
    (1, 2 * 24 * 12),
    (12, 60 * 24),
    (288, 2 * 365),
    (30 * 288, (10 * 365) // 30 + 1),
)

_DATA_SOURCES = (f"DS:rx:ABSOLUTE:{HEARTBEAT}:0:U", f"DS:tx:ABSOLUTE:{HEARTBEAT}:0:U")
_RRAS = tuple(
    f"RRA:{cf}:0.5:{steps}:{rows}" for steps, rows in ARCHIVES for cf in ("AVERAGE", "MAX")
)
_STALE_MARKER = "illegal attempt to update"

_RX_COLOUR = "#2e7d32"
_TX_COLOUR = "#1565c0"


class RrdUpdateError(Exception):
    """Some logins of a batch could not be written; the others were.

    ``written`` counts the rows that did reach their files; ``failures`` maps
    ``(org_id, login_id)`` to librrd's message.
    """

    def __init__(self, written: int, failures: dict[tuple[int, int], str]) -> None:
        self.written = written
        self.failures = failures
        summary = "; ".join(f"{org}/{login}: {msg}" for (org, login), msg in failures.items())
        super().__init__(f"{len(failures)} RRD file(s) failed: {summary}")


@dataclass(frozen=True)
class _Skip:
    """A row not written because its slot is not newer than the file's last update."""

    org_id: int
    login_id: int
    slot_start: int
    last_update: int


@dataclass
class _BatchResult:
    """What a batch of updates did, returned from the thread to the reactor."""

    written: int = 0
    created: int = 0
    skipped: list[_Skip] = field(default_factory=list)
    failures: dict[tuple[int, int], str] = field(default_factory=dict)


def _epoch(moment: datetime) -> int:
    """Seconds since the epoch; a naive datetime is taken as UTC (as stored)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp())


def _slot_epoch(slot_start: datetime) -> int:
    """The epoch of a slot start, which must fall on a five-minute boundary."""
    seconds = _epoch(slot_start)
    if seconds % STEP:
        raise ValueError(f"slot_start {slot_start.isoformat()} is not on a {STEP} s boundary")
    return seconds


def _check_id(name: str, value: int) -> None:
    """Ids become path components, so only non-negative integers are allowed."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{name} must be a non-negative int, not {value!r}")


def _check_bytes(name: str, value: int) -> None:
    """Byte counts of a slot are non-negative integers."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{name} must be a non-negative int, not {value!r}")


def _escape(path: str) -> str:
    """Escape colons for a path inside an rrdgraph ``DEF:``."""
    return path.replace("\\", "\\\\").replace(":", "\\:")


class RrdStore:
    """Per-login RRD files: lazy creation, batched updates, fetches and PNG graphs.

    ``daemon`` is an rrdcached address (``"unix:/run/rrdcached.sock"``) or
    None to write files directly; with a daemon, creates and updates go
    through it and reads ask it to flush the file first. The RRD directory
    must be the same path for aaad and the daemon, inside its ``-b`` base.
    """

    log = Logger()

    def __init__(
        self,
        rrd_dir: str,
        daemon: str | None,
        run_in_thread: RunInThread,
        *,
        clock: IReactorTime | None = None,
        timeout: float = 10.0,
    ) -> None:
        self.rrd_dir = os.path.abspath(rrd_dir)
        self.daemon = daemon
        self._run_in_thread = run_in_thread
        self._clock = clock
        self._timeout = timeout
        #: Rows written, files created and stale rows skipped since start.
        self.rows_written = 0
        self.files_created = 0
        self.rows_skipped = 0

    def path_for(self, org_id: int, login_id: int) -> str:
        """The RRD file of a login (which may not exist yet)."""
        _check_id("org_id", org_id)
        _check_id("login_id", login_id)
        return os.path.join(self.rrd_dir, str(org_id), f"{login_id}.rrd")

    def _daemon_args(self) -> list[str]:
        """``--daemon <addr>`` when an rrdcached is configured."""
        return ["--daemon", self.daemon] if self.daemon else []

    def _call(self, func: Callable[..., T], *args: Any) -> Deferred[T]:
        """Run a blocking function on the pool, with the per-call timeout if clocked."""
        d: Deferred[T] = self._run_in_thread(func, *args)
        if self._clock is not None:
            d.addTimeout(self._timeout, self._clock)
        return d

    # -- updates -----------------------------------------------------------

    def update(
        self, org_id: int, login_id: int, slot_start: datetime, rx_bytes: int, tx_bytes: int
    ) -> Deferred[None]:
        """Record one login's bytes for the five-minute slot starting at ``slot_start``.

        Creates the file if needed; a slot not newer than the last one
        written is skipped (logged and counted). Fails with
        :class:`RrdUpdateError` if librrd refuses the write.
        """
        d = self.update_many([(org_id, login_id, slot_start, rx_bytes, tx_bytes)])
        return d.addCallback(lambda _written: None)

    def update_many(self, rows: Iterable[UsageRow]) -> Deferred[int]:
        """Record many ``(org_id, login_id, slot_start, rx, tx)`` rows; fire with rows written.

        Rows are grouped per login and sorted by slot, one librrd update per
        file. Stale rows are skipped; a file that fails does not stop the
        others, and the Deferred then fails with :class:`RrdUpdateError`.
        Raises ValueError at once for a malformed row.
        """
        by_path: dict[str, tuple[int, int, list[tuple[int, int, int]]]] = {}
        for org_id, login_id, slot_start, rx_bytes, tx_bytes in rows:
            path = self.path_for(org_id, login_id)
            _check_bytes("rx_bytes", rx_bytes)
            _check_bytes("tx_bytes", tx_bytes)
            entry = by_path.setdefault(path, (org_id, login_id, []))
            entry[2].append((_slot_epoch(slot_start), rx_bytes, tx_bytes))
        batch = [
            (path, org, login, sorted(slots)) for path, (org, login, slots) in by_path.items()
        ]
        d = self._call(_update_thd, batch, self._daemon_args())
        return d.addCallback(self._after_update)

    def _after_update(self, result: _BatchResult) -> int:
        """Back on the reactor: count, log skips and failures, report."""
        self.rows_written += result.written
        self.files_created += result.created
        self.rows_skipped += len(result.skipped)
        for skip in result.skipped:
            self.log.info(
                "RRD update skipped: slot {slot_start} of login {org_id}/{login_id} "
                "is not newer than the last update {last_update}",
                org_id=skip.org_id,
                login_id=skip.login_id,
                slot_start=skip.slot_start,
                last_update=skip.last_update,
            )
        if result.failures:
            raise RrdUpdateError(result.written, result.failures)
        return result.written

    # -- reads -------------------------------------------------------------

    def fetch(
        self,
        org_id: int,
        login_id: int,
        start: datetime,
        end: datetime,
        resolution: int | timedelta = STEP,
    ) -> Deferred[list[tuple[datetime, float | None, float | None]]]:
        """Average bytes per second as ``(slot_start, rx, tx)`` for slots in ``[start, end)``.

        Slot starts are UTC-aware. rrdtool picks the archive: the finest one
        covering the whole period at ``resolution`` or coarser, so align
        ``start`` to the resolution. Unknown values are None; an unknown
        login gives an empty list.
        """
        seconds = int(resolution.total_seconds()) if isinstance(resolution, timedelta) else resolution
        if seconds <= 0:
            raise ValueError(f"resolution must be positive, not {resolution!r}")
        path = self.path_for(org_id, login_id)
        return self._call(
            _fetch_thd, path, _epoch(start), _epoch(end), seconds, self._daemon_args()
        )

    def graph(
        self,
        org_id: int,
        login_id: int,
        start: datetime,
        end: datetime,
        width: int = 800,
        height: int = 240,
        title: str | None = None,
    ) -> Deferred[bytes | None]:
        """Render a PNG of download and upload in bits per second; None if no RRD yet.

        The legend gives each direction's average, maximum and total bytes
        over the period. Axis labels use the process's time zone.
        """
        if width <= 0 or height <= 0:
            raise ValueError(f"graph size must be positive, not {width}x{height}")
        path = self.path_for(org_id, login_id)
        args = graph_args(path, _epoch(start), _epoch(end), width, height, title)
        return self._call(_graph_thd, path, args + self._daemon_args())


def graph_args(
    path: str, start: int, end: int, width: int, height: int, title: str | None
) -> list[str]:
    """The rrdgraph arguments (after the output name) for a login's traffic graph."""
    args = [
        "--imgformat", "PNG",
        "--start", str(start),
        "--end", str(end),
        "--width", str(width),
        "--height", str(height),
        "--vertical-label", "bits per second",
        "--lower-limit", "0",
        "--base", "1000",
    ]
    if title:
        args += ["--title", title]
    rrd = _escape(path)
    for name, label, colour, draw in (
        ("rx", "Download", _RX_COLOUR, "AREA"),
        ("tx", "Upload  ", _TX_COLOUR, "LINE2"),
    ):
        args += [
            f"DEF:{name}={rrd}:{name}:AVERAGE",
            f"DEF:{name}_peak={rrd}:{name}:MAX",
            f"CDEF:{name}_bits={name},8,*",
            f"CDEF:{name}_peak_bits={name}_peak,8,*",
            f"VDEF:{name}_avg={name}_bits,AVERAGE",
            f"VDEF:{name}_max={name}_peak_bits,MAXIMUM",
            f"VDEF:{name}_total={name},TOTAL",
            f"{draw}:{name}_bits{colour}:{label}",
            f"GPRINT:{name}_avg:avg %6.2lf %sbps",
            f"GPRINT:{name}_max:max %6.2lf %sbps",
            f"GPRINT:{name}_total:total %6.2lf %sB\\l",
        ]
    return args


# -- thread functions: blocking, run on the RRD pool, return plain data ------


def _create(path: str, first_slot: int, daemon_args: Sequence[str]) -> bool:
    """Create a login's file starting at its first slot; False if it already exists."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    try:
        rrdtool.create(
            path,
            *daemon_args,
            "--start", str(first_slot),
            "--step", str(STEP),
            "--no-overwrite",
            *_DATA_SOURCES,
            *_RRAS,
        )
    except rrdtool.OperationalError as exc:
        if "File exists" in str(exc):
            return False
        raise
    return True


def _update_values(
    org_id: int, login_id: int, slots: list[tuple[int, int, int]], last: int
) -> tuple[list[str], int, list[_Skip]]:
    """The ``time:rx:tx`` values for the slots after ``last``, rows kept, rows skipped."""
    values: list[str] = []
    kept = 0
    skipped: list[_Skip] = []
    for slot_start, rx_bytes, tx_bytes in slots:
        slot_end = slot_start + STEP
        if slot_end <= last:
            skipped.append(_Skip(org_id, login_id, slot_start, last))
            continue
        if slot_start > last:
            values.append(f"{slot_start}:0:0")
        values.append(f"{slot_end}:{rx_bytes}:{tx_bytes}")
        kept += 1
        last = slot_end
    return values, kept, skipped


def _update_file(
    path: str,
    org_id: int,
    login_id: int,
    slots: list[tuple[int, int, int]],
    daemon_args: Sequence[str],
    result: _BatchResult,
) -> None:
    """Create the file if missing and write its slots in one librrd update."""
    if os.path.exists(path) or not _create(path, slots[0][0], daemon_args):
        last = int(rrdtool.last(path, *daemon_args))
    else:
        result.created += 1
        last = slots[0][0]
    for attempt in range(2):
        values, kept, skipped = _update_values(org_id, login_id, slots, last)
        try:
            if values:
                rrdtool.update(path, *daemon_args, *values)
        except rrdtool.OperationalError as exc:
            # Another thread wrote this file since we read its last update:
            # read it again and retry once.
            if _STALE_MARKER not in str(exc) or attempt:
                raise
            last = int(rrdtool.last(path, *daemon_args))
            continue
        result.written += kept
        result.skipped.extend(skipped)
        return


def _update_thd(
    batch: list[tuple[str, int, int, list[tuple[int, int, int]]]], daemon_args: list[str]
) -> _BatchResult:
    """Write a batch of per-file slot lists; failures are collected per login."""
    result = _BatchResult()
    for path, org_id, login_id, slots in batch:
        try:
            _update_file(path, org_id, login_id, slots, daemon_args, result)
        except (rrdtool.OperationalError, OSError) as exc:
            result.failures[(org_id, login_id)] = str(exc)
    return result


def _fetch_thd(
    path: str, start: int, end: int, resolution: int, daemon_args: list[str]
) -> list[tuple[datetime, float | None, float | None]]:
    """Fetch AVERAGE rows of ``[start, end)`` as (slot start, rx, tx)."""
    if not os.path.exists(path):
        return []
    (first, _last, step), names, rows = rrdtool.fetch(
        path,
        "AVERAGE",
        "--resolution", str(resolution),
        "--start", str(start),
        "--end", str(end),
        *daemon_args,
    )
    rx_index, tx_index = names.index("rx"), names.index("tx")
    out: list[tuple[datetime, float | None, float | None]] = []
    for i, row in enumerate(rows):
        slot_start = first + i * step
        if start <= slot_start < end:
            out.append(
                (datetime.fromtimestamp(slot_start, UTC), row[rx_index], row[tx_index])
            )
    return out


def _graph_thd(path: str, args: list[str]) -> bytes | None:
    """Render the graph in memory; None if the login has no file."""
    if not os.path.exists(path):
        return None
    info = rrdtool.graphv("-", *args)
    image = info.get("image")
    if not isinstance(image, bytes):
        raise RuntimeError(f"rrdtool.graphv returned no image for {path}")
    return image
