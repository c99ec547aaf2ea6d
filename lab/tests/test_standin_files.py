"""The stand-in reads log files as Alloy does: local.file_match globs (doublestar, less
__path_exclude__), loki.source.file tails complete lines from kept positions
(<storage>/<component id>/positions.yml, keyed by file and labels in Alloy's own layout) into
loki.write with the targets' labels.

The tests read what the writer queued (or what a local fake Loki received); the clock
that decides when globs are matched again is a fake one the tests move forward."""
from __future__ import annotations

import json
import os
import stat
import threading
import time
from pathlib import Path
from typing import Callable, Dict, Iterator, List, Tuple, cast

import pytest
from alloy_standin.syntax import Block, parse
from alloy_standin.telemetry import (Entry, PositionEntry, Telemetry, expand_braces, glob_match, label_set_string,
                                     parse_positions, read_positions, write_positions)
from lab_wire import decode_push
from local_http import LocalServer
from standin_harness import PUSH, WALL, FakeClock

LOKI = "loki.write.endpoint"
SOURCE = "loki.source.file.app"


@pytest.fixture()
def logs(tmp_path: Path) -> Path:
    folder = tmp_path / "logs"
    folder.mkdir()
    return folder


@pytest.fixture()
def sink() -> Iterator[LocalServer]:
    srv = LocalServer()
    srv.routes[PUSH] = (204, "")
    yield srv
    threading.Thread(target=srv.close, daemon=True).start()  # without waiting for its 0.5 s poll


def target(path: object, **labels: str) -> str:
    """One path target in Alloy syntax."""
    fields = {"__path__": str(path), **labels}
    return "{" + ", ".join(f"{json.dumps(k)} = {json.dumps(v)}" for k, v in fields.items()) + "}"


def config(*targets: str, source: str = "", url: str = "http://127.0.0.1:9/loki/api/v1/push",
           forward: str = "loki.write.endpoint.receiver", extra: str = "") -> str:
    return f'''
local.file_match "app" {{
	path_targets = [{", ".join(targets)}]
}}

loki.source.file "app" {{
	targets    = local.file_match.app.targets
	forward_to = [{forward}]
{source}
}}
{extra}
loki.write "endpoint" {{
	endpoint {{
		url = "{url}"
	}}
	external_labels = {{cluster = "lab", job = "from-writer"}}
}}
'''


def blocks(text: str) -> Dict[str, Block]:
    return {b.id: b for b in parse(text) if isinstance(b, Block)}


def standin(text: str, storage: Path, clock: FakeClock) -> Telemetry:
    telemetry = Telemetry(storage / "data", "1.18.0", clock=clock, wall=lambda: WALL)
    telemetry.update(blocks(text))
    return telemetry


def tailed(telemetry: Telemetry) -> List[Entry]:
    """One pass over the files: the entries it queued for the writer's endpoint, taken out."""
    telemetry.tail_files()
    (queue,) = telemetry.writers()[LOKI].queues.values()
    entries, queue.queued = cast(List[Entry], queue.queued), []
    return entries


def lines(entries: List[Entry]) -> List[str]:
    return [line for _, _, line in entries]


def pushed(server: LocalServer) -> List[List[Tuple[Dict[str, str], str, str]]]:
    """Per push request the fake Loki received: (stream labels, timestamp, line) per entry."""
    out: List[List[Tuple[Dict[str, str], str, str]]] = []
    for request in [r for r in server.requests if r.path == PUSH]:
        streams = decode_push(request.body)
        out.append([(cast(Dict[str, str], s["stream"]), stamp, line)
                    for s in streams for stamp, line in cast(List[List[str]], s["values"])])
    return out


def append(path: Path, text: str) -> None:
    with path.open("a", encoding="utf-8") as handle:
        handle.write(text)


def test_an_appended_line_is_delivered_once_with_the_target_labels(sink: LocalServer, tmp_path: Path,
                                                                   logs: Path, clock: FakeClock) -> None:
    app = logs / "app.log"
    app.write_text("first\n")
    text = config(target(logs / "*.log", __path_exclude__=str(logs / "*.gz"), job="app", __meta_note="x",
                         filename="mine"), url=sink.url + PUSH)
    telemetry = standin(text, tmp_path, clock)
    telemetry.tail_files()
    telemetry.tick()
    append(app, "second\r\n")
    telemetry.tail_files()
    telemetry.tick()
    telemetry.tail_files()  # nothing new: nothing queued, nothing sent
    telemetry.tick()
    pushes = pushed(sink)
    assert [[line for _, _, line in push] for push in pushes] == [["first"], ["second"]]
    labels, stamp, _ = pushes[1][0]
    # The target's own labels win over external_labels; "__" labels are dropped; filename is the file.
    assert labels == {"cluster": "lab", "job": "app", "filename": str(app)}
    assert int(stamp) == 1_700_000_000_250_000_000


def test_lines_of_one_pass_have_distinct_rising_timestamps(tmp_path: Path, logs: Path, clock: FakeClock) -> None:
    (logs / "app.log").write_text("same\nsame\nsame\n")
    entries = tailed(standin(config(target(logs / "app.log")), tmp_path, clock))
    assert lines(entries) == ["same"] * 3  # Loki would fold identical lines of one timestamp
    assert [stamp for _, stamp, _ in entries] == [1_700_000_000_250_000_000 + i for i in range(3)]


def test_files_matching_the_exclude_alternatives_are_not_read(tmp_path: Path, logs: Path, clock: FakeClock) -> None:
    for name in ("app.log", "app.log.gz", "app.log.1", "app.log.2"):
        (logs / name).write_text(f"{name}\n")
    telemetry = standin(config(target(logs / "app.log*", __path_exclude__=str(logs / "*.{gz,1}"))), tmp_path, clock)
    assert sorted(lines(tailed(telemetry))) == ["app.log", "app.log.2"]


def test_double_star_matches_files_at_any_depth(tmp_path: Path, logs: Path, clock: FakeClock) -> None:
    for name in ("top.log", "a/mid.log", "a/b/c/deep.log", "a/b/other.txt", "a/b/dir.log/inner.txt"):
        (logs / name).parent.mkdir(parents=True, exist_ok=True)
        (logs / name).write_text(f"{name}\n")
    entries = tailed(standin(config(target(logs / "**" / "*.log")), tmp_path, clock))
    assert sorted(lines(entries)) == ["a/b/c/deep.log", "a/mid.log", "top.log"]  # a directory named *.log is no file
    assert {labels["filename"] for labels, _, _ in entries} == {str(logs / n) for n in lines(entries)}


def test_a_partial_line_waits_for_its_newline(tmp_path: Path, logs: Path, clock: FakeClock) -> None:
    app = logs / "app.log"
    app.write_text("whole\npart")
    telemetry = standin(config(target(app)), tmp_path, clock)
    assert lines(tailed(telemetry)) == ["whole"]
    assert lines(tailed(telemetry)) == []
    append(app, "ial\n\nnext")
    assert lines(tailed(telemetry)) == ["partial", ""]  # an empty line is a line, as in Alloy


def test_positions_are_kept_under_the_storage_path_and_survive_a_restart(tmp_path: Path, logs: Path,
                                                                         clock: FakeClock) -> None:
    app = logs / "app.log"
    app.write_text("one\ntwo\n")
    text = config(target(logs / "*.log"))
    assert lines(tailed(standin(text, tmp_path, clock))) == ["one", "two"]
    positions = tmp_path / "data" / SOURCE / "positions.yml"
    # Alloy's layout (yaml.v2 of map[positions.Entry]string), labels as model.LabelSet.String().
    assert positions.read_text() == f"positions:\n  ? path: {app}\n    labels: '{{}}'\n  : \"8\"\n"
    assert stat.S_IMODE(positions.stat().st_mode) == 0o600  # write_positions_unix.go positionFileMode
    assert os.listdir(positions.parent) == ["positions.yml"]  # no temporary file left beside it
    assert read_positions(positions) == {PositionEntry(str(app), "{}"): "8"}
    append(app, "three\n")
    restarted = standin(text, tmp_path, clock)  # a new process on the same --storage.path
    assert lines(tailed(restarted)) == ["three"]
    assert read_positions(positions) == {PositionEntry(str(app), "{}"): "14"}


def positions_of(tmp_path: Path) -> Dict[PositionEntry, str]:
    return read_positions(tmp_path / "data" / SOURCE / "positions.yml")


def jobs(entries: List[Entry]) -> List[Tuple[str, str]]:
    return sorted((labels["job"], line) for labels, _, line in entries)


def test_a_label_change_reads_the_file_again_from_its_start(tmp_path: Path, logs: Path, clock: FakeClock) -> None:
    app = logs / "app.log"
    app.write_text("one\n")
    telemetry = standin(config(target(app, job="a", __meta_x="kept out of the key")), tmp_path, clock)
    assert jobs(tailed(telemetry)) == [("a", "one")]
    assert positions_of(tmp_path) == {PositionEntry(str(app), '{job="a"}'): "4"}
    telemetry.update(blocks(config(target(app, job="a", __meta_x="changed"))))  # "__" labels are no part
    assert tailed(telemetry) == []
    telemetry.update(blocks(config(target(app, job="b"))))
    # Another key: a new tailer without a position; the stopped one dropped its own.
    assert jobs(tailed(telemetry)) == [("b", "one")]
    assert positions_of(tmp_path) == {PositionEntry(str(app), '{job="b"}'): "4"}


def test_one_file_of_two_label_sets_keeps_two_positions(tmp_path: Path, logs: Path, clock: FakeClock) -> None:
    app = logs / "app.log"
    app.write_text("one\n")
    telemetry = standin(config(target(app, job="a"), target(app, job="b", team="x")), tmp_path, clock)
    assert jobs(tailed(telemetry)) == [("a", "one"), ("b", "one")]
    append(app, "two\n")
    assert jobs(tailed(telemetry)) == [("a", "two"), ("b", "two")]
    assert positions_of(tmp_path) == {PositionEntry(str(app), '{job="a"}'): "8",
                                      PositionEntry(str(app), '{job="b", team="x"}'): "8"}
    telemetry.update(blocks(config(target(app, job="a"), target(app, job="b", team="x"), target(app, job="c"))))
    assert jobs(tailed(telemetry)) == [("c", "one"), ("c", "two")]  # its own tailer, from the start


def test_a_positions_file_written_by_alloy_is_read_back(tmp_path: Path, logs: Path, clock: FakeClock) -> None:
    app, other = logs / "app.log", logs / "other.log"
    app.write_text("old\nnew\n")
    other.write_text("x\n")
    positions = tmp_path / "data" / SOURCE / "positions.yml"
    positions.parent.mkdir(parents=True)
    # positions_test.go's TestReadPositions "unknown properties", on files of this test.
    positions.write_text(f"""
some_new_property: new_unexpected_value
positions:
  ? path: {app}
    labels: '{{job="tmp"}}'
  : "4"
  ? path: {other}
    labels: '{{}}'
  : "2"
  ? path: {logs / "gone.log"}
    labels: '{{}}'
  : "17623"
""")
    telemetry = standin(config(target(app, job="tmp")), tmp_path, clock)
    assert jobs(tailed(telemetry)) == [("tmp", "new")]
    # other.log has no tailer but exists: kept; gone.log no longer exists: dropped (positions.go cleanup).
    assert read_positions(positions) == {PositionEntry(str(app), '{job="tmp"}'): "8",
                                         PositionEntry(str(other), "{}"): "2"}


def test_alloys_positions_test_examples_parse() -> None:
    # TestReadEmptyLabels: labels '' and missing both read as "".
    assert parse_positions("""
positions:
  ? path: /tmp/nolabels.log
    labels: ''
  : "10020"
  ? path: /tmp/emptylabels.log
    labels: '{}'
  : "10030"
  ? path: /tmp/missinglabels.log
  : "10040"
""") == {PositionEntry("/tmp/nolabels.log", ""): "10020", PositionEntry("/tmp/emptylabels.log", "{}"): "10030",
         PositionEntry("/tmp/missinglabels.log", ""): "10040"}
    assert parse_positions("") == {}  # TestReadPositionsEmptyFile
    with pytest.raises(ValueError):  # TestReadPositionsFromBadYaml
        parse_positions('\npositions:\n  ? path: /tmp/random.log\n    labels: "{}"\n  : "176\n')
    with pytest.raises(ValueError):  # Promtail's form is no map[Entry]string: Alloy refuses it
        parse_positions('positions:\n  /tmp/random.log: "17623"\n')


def test_awkward_paths_and_labels_are_written_as_yaml_v2_does_and_read_back(tmp_path: Path) -> None:
    labels = label_set_string({"job": "app", "note": "it's a \"quoted\" value " + "word " * 12 + "end"})
    positions = {
        PositionEntry("/var/log/app.log", labels): "10",
        PositionEntry("/var/log/with space #and hash.log", "{}"): "11",
        PositionEntry("/var/log/tab\tand\nnewline.log", "{}"): "12",
        PositionEntry("/var/log/latin1-\udce9.log", "{}"): "13",  # a byte that is no UTF-8
        PositionEntry("123", ""): "14",
    }
    path = tmp_path / "positions.yml"
    write_positions(path, positions)
    assert read_positions(path) == positions
    text = path.read_text()
    # yaml.v2 breaks a long quoted scalar at a space past column 80, going on at the value's indent + 2.
    assert "    labels: '{job=\"app\", note=\"it''s a \\\"quoted\\\" value word word word word word word\n" \
           "      word word word word word word end\"}'\n" in text
    assert "  ? path: '/var/log/with space #and hash.log'\n" in text
    assert '  ? path: "/var/log/tab\\tand\\nnewline.log"\n' in text
    assert "  ? path: !!binary L3Zhci9sb2cvbGF0aW4xLekubG9n\n" in text
    assert '  ? path: "123"\n    labels: ""\n  : "14"\n' in text
    write_positions(path, {})
    assert path.read_text() == "positions: {}\n"


def test_labels_are_keyed_as_prometheus_label_set_string() -> None:
    assert label_set_string({}) == "{}"
    assert label_set_string({"b": 'say "hi"\n', "a": "é", "c": "\x01\u00a0"}) == \
        '{a="é", b="say \\"hi\\"\\n", c="\\x01\\u00a0"}'


def test_tail_from_end_without_new_lines_puts_no_position(tmp_path: Path, logs: Path, clock: FakeClock) -> None:
    app = logs / "app.log"
    app.write_text("old\n")
    text = config(target(app), source="\ttail_from_end = true")
    assert lines(tailed(standin(text, tmp_path, clock))) == []
    assert positions_of(tmp_path) == {}  # tailer.go puts a position when it sent a line
    append(app, "while stopped\n")
    restarted = standin(text, tmp_path, clock)
    assert lines(tailed(restarted)) == []  # from the end again, as Alloy
    append(app, "new\n")
    assert lines(tailed(restarted)) == ["new"]
    assert positions_of(tmp_path) == {PositionEntry(str(app), "{}"): str(app.stat().st_size)}


def test_a_reload_keeping_the_component_keeps_its_positions(tmp_path: Path, logs: Path, clock: FakeClock) -> None:
    (logs / "app.log").write_text("one\n")
    text = config(target(logs / "*.log"))
    telemetry = standin(text, tmp_path, clock)
    assert lines(tailed(telemetry)) == ["one"]
    (tmp_path / "data" / SOURCE / "positions.yml").unlink()  # only what the component holds counts now
    telemetry.update(blocks(text + '\nloki.source.journal "read" {\n\tforward_to = []\n}\n'))
    assert lines(tailed(telemetry)) == []


def test_a_truncated_file_is_read_again_from_its_start(tmp_path: Path, logs: Path, clock: FakeClock) -> None:
    app = logs / "app.log"
    app.write_text("a long first line\n")
    telemetry = standin(config(target(app)), tmp_path, clock)
    assert lines(tailed(telemetry)) == ["a long first line"]
    app.write_text("short\n")  # truncated (copytruncate) and written again
    assert lines(tailed(telemetry)) == ["short"]


def test_a_file_replaced_at_its_path_is_read_from_its_start(tmp_path: Path, logs: Path, clock: FakeClock) -> None:
    app = logs / "app.log"
    app.write_text("old\n")
    telemetry = standin(config(target(app)), tmp_path, clock)
    assert lines(tailed(telemetry)) == ["old"]
    app.rename(logs / "app.log.1")
    app.write_text("new and longer\n")  # rotated: another file, bigger than the position
    assert lines(tailed(telemetry)) == ["new and longer"]


def test_tail_from_end_skips_what_the_file_holds(tmp_path: Path, logs: Path, clock: FakeClock) -> None:
    app = logs / "app.log"
    app.write_text("old\nolder\npart")
    telemetry = standin(config(target(app), source="\ttail_from_end = true"), tmp_path, clock)
    assert lines(tailed(telemetry)) == []
    append(app, "ial\nnew\n")
    assert lines(tailed(telemetry)) == ["partial", "new"]  # from just after the last newline, as Alloy


def test_an_unreadable_file_is_skipped_and_the_others_read(tmp_path: Path, logs: Path, clock: FakeClock) -> None:
    if os.geteuid() == 0:
        pytest.skip("root reads a file whatever its mode")
    (logs / "secret.log").write_text("hidden\n")
    (logs / "secret.log").chmod(0)
    (logs / "app.log").write_text("visible\n")
    telemetry = standin(config(target(logs / "*.log")), tmp_path, clock)
    logged: List[str] = []
    try:
        for _ in range(2):
            telemetry.tail_files(lambda level, message: logged.append(f"{level} {message}"))
    finally:
        (logs / "secret.log").chmod(0o600)
    (queue,) = telemetry.writers()[LOKI].queues.values()
    assert lines(cast(List[Entry], queue.queued)) == ["visible"]
    assert len(logged) == 1 and logged[0].startswith(f"warn {SOURCE}: failed to tail file {logs / 'secret.log'}")
    assert lines(tailed(telemetry)) == ["visible", "hidden"]  # read once it may be


def test_produce_does_not_send_file_lines(tmp_path: Path, logs: Path, clock: FakeClock) -> None:
    (logs / "app.log").write_text("once\n")
    telemetry = standin(config(target(logs / "*.log")), tmp_path, clock)
    telemetry.produce()
    assert lines(tailed(telemetry)) == ["once"]
    telemetry.produce()
    assert lines(tailed(telemetry)) == []


def test_new_files_are_matched_every_sync_period(tmp_path: Path, logs: Path, clock: FakeClock) -> None:
    (logs / "a.log").write_text("a\n")
    text = config(target(logs / "*.log")).replace("\tpath_targets", '\tsync_period = "5s"\n\tpath_targets')
    telemetry = standin(text, tmp_path, clock)
    assert lines(tailed(telemetry)) == ["a"]
    (logs / "b.log").write_text("b\n")
    clock.now += 4.9
    assert lines(tailed(telemetry)) == []
    clock.now += 0.1
    assert lines(tailed(telemetry)) == ["b"]


def test_lines_follow_loki_relabel_like_the_roles_host_root_rule(tmp_path: Path, logs: Path,
                                                                 clock: FakeClock) -> None:
    (logs / "app.log").write_text("x\n")
    rule = f'''
loki.relabel "files" {{
	forward_to = [loki.write.endpoint.receiver]
	rule {{
		source_labels = ["filename"]
		regex         = "{tmp_path}(/.*)"
		target_label  = "filename"
		replacement   = "$1"
	}}
}}
'''
    text = config(target(logs / "*.log", instance="web-01"), forward="loki.relabel.files.receiver", extra=rule)
    (entry,) = tailed(standin(text, tmp_path, clock))
    assert entry[0] == {"cluster": "lab", "job": "from-writer", "instance": "web-01", "filename": "/logs/app.log"}


def test_inline_targets_are_files_unless_file_match_is_enabled(tmp_path: Path, logs: Path, clock: FakeClock) -> None:
    (logs / "app.log").write_text("x\n")
    inline = f"[{target(logs / 'app.log', job='a')}, {target(logs / '*.log', job='glob')}]"
    text = config().replace("local.file_match.app.targets", inline)
    assert [labels["job"] for labels, _, _ in tailed(standin(text, tmp_path / "one", clock))] == ["a"]
    globbing = text.replace("forward_to = [", "file_match {\n\t\tenabled = true\n\t}\n\tforward_to = [")
    assert sorted(labels["job"] for labels, _, _ in tailed(standin(globbing, tmp_path / "two", clock))) == ["a", "glob"]


def wait_for(condition: Callable[[], bool], seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_the_run_loop_tails_every_tick(sink: LocalServer, tmp_path: Path, logs: Path) -> None:
    app = logs / "app.log"
    app.write_text("")
    telemetry = Telemetry(tmp_path / "data", "1.18.0")  # the real clocks
    telemetry.update(blocks(config(target(app), url=sink.url + PUSH)))
    stop = threading.Event()
    thread = threading.Thread(target=telemetry.run, args=(lambda level, message: None, stop, 0.01))
    thread.start()
    try:
        time.sleep(0.05)
        append(app, "hello\n")
        wait_for(lambda: [line for push in pushed(sink) for _, _, line in push] == ["hello"])  # long before 60 s
    finally:
        stop.set()
        thread.join(5)


@pytest.mark.parametrize("pattern,path,matches", [
    ("/var/log/*.{gz,1}", "/var/log/app.gz", True),
    ("/var/log/*.{gz,1}", "/var/log/app.log", False),
    ("/var/log/*.gz", "/var/log/old/app.gz", False),
    ("/var/**/*.gz", "/var/app.gz", True),
    ("/var/**/*.gz", "/var/a/b/app.gz", True),
    ("/var/log/[!a]*", "/var/log/app", False),
    ("/var/log/[a-c]?p", "/var/log/bap", True),
    ("/var/log/{a,{b,c}x}", "/var/log/cx", True),
    ("/var/log/*", "/var/log/.hidden", True),
    ("var/log/*", "/var/log/x", False),
])
def test_glob_match_follows_doublestar(pattern: str, path: str, matches: bool) -> None:
    assert glob_match(pattern, path) is matches


def test_brace_alternatives_are_spelled_out() -> None:
    assert expand_braces("/x/*.{log,txt}") == ["/x/*.log", "/x/*.txt"]
    assert expand_braces("a{b,{c,d}e}f") == ["abf", "acef", "adef"]
    assert expand_braces("a{b") == ["a{b"]
