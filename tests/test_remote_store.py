"""The run store at an S3 URL, against a real S3-protocol server (moto's server mode) started
locally: the same records, checks and resumption as on disk, and concurrent writers."""

from __future__ import annotations

import dataclasses
import multiprocessing
import socket

import pytest

from fml_bench import cli, provenance, runner
from fml_bench.store import RemoteRunStore, open_store
from tests.test_store import FIXED, SPEC, FakeEngine, fake_record

moto_server = pytest.importorskip("moto.server", reason="moto[s3] with flask is in the dev extra")
boto3 = pytest.importorskip("boto3")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def s3_endpoint():
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=_free_port(), verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def bucket(s3_endpoint, monkeypatch, request):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("FML_BENCH_S3_ENDPOINT", s3_endpoint)
    name = f"fml-{request.node.name.lower().replace('_', '-')[:40]}-{_free_port()}"
    boto3.client("s3", endpoint_url=s3_endpoint).create_bucket(Bucket=name)
    return f"s3://{name}/store"


def test_records_round_trip_through_s3(bucket):
    store = open_store(bucket, FIXED)
    assert isinstance(store, RemoteRunStore)
    store.save(SPEC, fake_record(3))
    expected = dataclasses.replace(fake_record(3), fingerprint=FIXED(SPEC, "reference"))
    assert store.load(SPEC, 3, "reference") == expected
    assert store.load(SPEC, 4, "reference") is None
    assert [r.seed for r in store.records(SPEC, "reference")] == [3]
    (group,) = store.groups()
    assert group.seeds == (3,) and group.fingerprint["tensorflow"] == "2.21.0"


def test_a_damaged_or_misplaced_object_is_moved_aside_and_recomputed(bucket):
    store = open_store(bucket, FIXED)
    good = store.save(SPEC, fake_record(0))
    store.fs.pipe_file(str(store.path(SPEC, 1, "reference")), b'{"schema": 2, "sha256": "x", "record": {}}')
    store.fs.copy(str(good), str(store.path(SPEC, 2, "reference")))  # seed 0's record under seed 2's key
    assert store.load(SPEC, 1, "reference") is None and store.load(SPEC, 2, "reference") is None
    assert sorted(p.rsplit("/", 1)[1] for p in store.fs.glob(f"{store.folder(SPEC, 'reference')}/*.corrupt")) == \
        ["seed-1.corrupt", "seed-2.corrupt"]


def test_a_run_resumes_from_s3_without_retraining(bucket, monkeypatch):
    store = open_store(bucket, FIXED)
    first = FakeEngine()
    monkeypatch.setattr(runner, "get_engine", lambda name: first)
    runner.run_experiment(SPEC, [0, 1], store)
    again = FakeEngine()
    monkeypatch.setattr(runner, "get_engine", lambda name: again)
    assert [r.seed for r in runner.run_experiment(SPEC, [0, 1, 2], open_store(bucket, FIXED))] == [0, 1, 2]
    assert first.trained == [0, 1] and again.trained == [2]


def _write_seeds(url: str, endpoint: str, seeds: list[int]) -> None:
    import os

    os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="us-east-1",
                      FML_BENCH_S3_ENDPOINT=endpoint)
    store = open_store(url, FIXED)
    for seed in seeds:
        store.save(SPEC, fake_record(seed))


def test_concurrent_writers_lose_nothing(bucket, s3_endpoint):
    ctx = multiprocessing.get_context("spawn")
    # four writers: disjoint seeds, and all of them writing seed 99 at once
    procs = [ctx.Process(target=_write_seeds, args=(bucket, s3_endpoint, [w * 10 + i for i in range(5)] + [99]))
             for w in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
        assert p.exitcode == 0
    store = open_store(bucket, FIXED)
    seeds = [r.seed for r in store.records(SPEC, "reference")]
    assert seeds == sorted([w * 10 + i for w in range(4) for i in range(5)] + [99])
    assert store.load(SPEC, 99, "reference") is not None  # whole, checksum intact


def test_the_command_line_takes_an_s3_store(bucket, capsys, monkeypatch):
    monkeypatch.setattr(provenance, "software", lambda: {k: FIXED(SPEC, "reference")[k] for k in
                                                          ("tensorflow", "keras", "keras_backend", "numpy")})
    open_store(bucket, FIXED).save(SPEC, fake_record(0))
    assert cli.main(["store", "--store-dir", bucket]) == 0
    assert "current" in capsys.readouterr().out
    assert cli.main(["store", "prune", "--store-dir", bucket]) == 2


def test_a_twin_under_another_name_serves_from_s3(bucket):
    # the knock-out of noise-channels asks for its zero-channel arm under the noise arm's name
    from fml_bench.claims import get_claim
    from fml_bench.experiments import get_spec
    from tests.test_store import _record_of

    store = open_store(bucket, FIXED)
    zeros = get_spec("mnist-zero-channels", "fast")
    store.save(zeros, _record_of(zeros, 0))
    knocked_out = get_claim("noise-channels").knockout.apply(SPEC)
    served = store.load(knocked_out, 0, "reference")
    assert served is not None and served.spec_name == SPEC.name and served.spec_hash == zeros.content_hash()
    assert store.load(SPEC, 0, "reference") is None and store.load(knocked_out, 1, "reference") is None
