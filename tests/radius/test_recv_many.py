"""The listeners' read of queued datagrams: the C recv_many (one recvmmsg(2)) against the pure-Python one
(recvfrom until the socket is empty), on real loopback sockets, IPv4 and IPv6."""
from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from aaad.radius import codec, listener

Recv = Callable[[Any, int, int], list[tuple[bytes, tuple[str, int]]]]


def c_recv_many() -> Recv:
    if codec._speedups is None:
        pytest.fail("aaad.radius._speedups is not built: " + codec._SPEEDUPS_UNUSABLE)
    fn: Recv = codec._speedups.recv_many
    return fn


IMPLEMENTATIONS = {"c": c_recv_many, "python": lambda: listener._py_recv_many}


@pytest.fixture(params=sorted(IMPLEMENTATIONS))
def recv(request: pytest.FixtureRequest) -> Recv:
    return IMPLEMENTATIONS[request.param]()


def pair(family: socket.AddressFamily, host: str) -> Iterator[tuple[socket.socket, socket.socket]]:
    server = socket.socket(family, socket.SOCK_DGRAM)
    client = socket.socket(family, socket.SOCK_DGRAM)
    try:
        server.bind((host, 0))
        server.setblocking(False)
        client.bind((host, 0))
        yield server, client
    finally:
        server.close()
        client.close()


@pytest.fixture
def v4() -> Iterator[tuple[socket.socket, socket.socket]]:
    yield from pair(socket.AF_INET, "127.0.0.1")


@pytest.fixture
def v6() -> Iterator[tuple[socket.socket, socket.socket]]:
    if not socket.has_ipv6:
        pytest.skip("no IPv6 here")
    try:
        yield from pair(socket.AF_INET6, "::1")
    except OSError as e:                                  # ::1 not configured
        pytest.skip(f"no IPv6 loopback: {e}")


def test_nothing_queued_is_an_empty_list(recv: Recv, v4: tuple[socket.socket, socket.socket]) -> None:
    server, _ = v4
    assert recv(server, 64, 4096) == []


def test_datagrams_come_in_order_with_the_senders_address(recv: Recv,
                                                          v4: tuple[socket.socket, socket.socket]) -> None:
    server, client = v4
    sent = [bytes([i]) * (i + 1) for i in range(5)]
    for d in sent:
        client.sendto(d, server.getsockname())
    got = recv(server, 64, 4096)
    assert [d for d, _ in got] == sent
    assert {a for _, a in got} == {client.getsockname()}
    assert all(type(a) is tuple and type(a[0]) is str and type(a[1]) is int for _, a in got)
    assert recv(server, 64, 4096) == []


def test_at_most_count_datagrams_a_call(recv: Recv, v4: tuple[socket.socket, socket.socket]) -> None:
    server, client = v4
    for i in range(10):
        client.sendto(b"%d" % i, server.getsockname())
    assert [d for d, _ in recv(server, 3, 4096)] == [b"0", b"1", b"2"]
    assert [d for d, _ in recv(server, 64, 4096)] == [b"%d" % i for i in range(3, 10)]


def test_a_datagram_longer_than_size_is_cut(recv: Recv, v4: tuple[socket.socket, socket.socket]) -> None:
    server, client = v4
    client.sendto(b"a" * 5000, server.getsockname())
    client.sendto(b"b" * 20, server.getsockname())
    got = recv(server, 64, 4096)
    assert [d for d, _ in got] == [b"a" * 4096, b"b" * 20]


def test_ipv6_peers_are_host_and_port(recv: Recv, v6: tuple[socket.socket, socket.socket]) -> None:
    server, client = v6
    client.sendto(b"six", server.getsockname())
    [(data, addr)] = recv(server, 64, 4096)
    assert data == b"six" and addr == ("::1", client.getsockname()[1])


def test_many_peers_each_get_their_own_address(recv: Recv, v4: tuple[socket.socket, socket.socket]) -> None:
    """Peers on 127.0.0.x: the C version's cache of host strings never hands one peer another's."""
    server, _ = v4
    clients = []
    try:
        for i in range(1, 40):
            c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            clients.append(c)
            c.bind((f"127.0.0.{i}", 0))
            c.sendto(b"%d" % i, server.getsockname())
        got = recv(server, 64, 4096)
        assert [(d, a) for d, a in got] == [(b"%d" % i, c.getsockname()) for i, c in enumerate(clients, 1)]
    finally:
        for c in clients:
            c.close()


def test_a_closed_socket_raises(recv: Recv) -> None:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.close()
    with pytest.raises((OSError, ValueError)):
        recv(s, 64, 4096)


def test_the_c_version_refuses_counts_and_sizes_beyond_its_buffers(v4: tuple[socket.socket, socket.socket]) -> None:
    fn = c_recv_many()
    server, _ = v4
    for count, size in ((0, 4096), (65, 4096), (64, 0), (64, 4097)):
        with pytest.raises(ValueError):
            fn(server, count, size)


def test_the_listener_uses_the_c_version_when_built() -> None:
    if codec.IMPLEMENTATION == "c":
        assert listener.recv_many is codec._speedups.recv_many
    else:
        assert listener.recv_many is listener._py_recv_many
