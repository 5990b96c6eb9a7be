"""rosbag2 MCAP recordings of ``sensor_msgs/PointCloud2``, read and written without ROS.

Uses the ``mcap`` and ``mcap-ros2-support`` packages (offline tools; the node does not need them).
A bag is a ``.mcap`` file or a rosbag2 folder holding ``*.mcap`` files (split bags are read in name
order). Messages are CDR with ``ros2msg`` schemas, the way ``ros2 bag record -s mcap`` stores them;
the schema text of every type this module writes is embedded below, so no ROS installation is
needed to write a bag that ROS tools can read.

``sim --bag`` records clouds on ``/points`` and, per cloud, the simulator's objects as JSON in a
``std_msgs/String`` on ``/ground_truth`` (a String rather than a MarkerArray: its definition is the
same in every ROS 2 distribution, and the JSON keeps labels and point counts). Decoded clouds go
through ``cloud.py``, so any driver layout that the node reads is read here too.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from t3d_ros.io.cloud import Field, cloud_view, layout_of, points_from_view

CLOUD_TYPE = "sensor_msgs/msg/PointCloud2"
STRING_TYPE = "std_msgs/msg/String"
CLOUD_TOPIC = "/points"
GROUND_TRUTH_TOPIC = "/ground_truth"

_SEP = "=" * 80
_TIME = "int32 sec\nuint32 nanosec\n"
_HEADER = "builtin_interfaces/Time stamp\nstring frame_id\n"
_POINT_FIELD = (
    "uint8 INT8    = 1\nuint8 UINT8   = 2\nuint8 INT16   = 3\nuint8 UINT16  = 4\n"
    "uint8 INT32   = 5\nuint8 UINT32  = 6\nuint8 FLOAT32 = 7\nuint8 FLOAT64 = 8\n"
    "string name\nuint32 offset\nuint8  datatype\nuint32 count\n"
)
# Message definitions as rosbag2 stores them: the type, then each nested type after a separator.
MSGDEFS: dict[str, str] = {
    CLOUD_TYPE: (
        "std_msgs/Header header\nuint32 height\nuint32 width\nPointField[] fields\nbool is_bigendian\n"
        "uint32 point_step\nuint32 row_step\nuint8[] data\nbool is_dense\n"
        f"{_SEP}\nMSG: std_msgs/Header\n{_HEADER}"
        f"{_SEP}\nMSG: builtin_interfaces/Time\n{_TIME}"
        f"{_SEP}\nMSG: sensor_msgs/PointField\n{_POINT_FIELD}"
    ),
    STRING_TYPE: "string data\n",
}


def bag_files(path: str | Path) -> list[Path]:
    """The ``.mcap`` files of a bag: the file itself, or those in a rosbag2 folder (name order)."""
    p = Path(path)
    if p.is_dir():
        files = sorted(p.glob("*.mcap"))
        if not files:
            raise FileNotFoundError(f"{p}: no .mcap file in this folder (only MCAP bags are read; "
                                    "convert others with `ros2 bag convert`)")
        return files
    if not p.is_file():
        raise FileNotFoundError(f"{p}: no such bag")
    if p.suffix.lower() != ".mcap":
        raise ValueError(f"{p}: not an MCAP bag (.mcap); convert .db3 bags with `ros2 bag convert`")
    return [p]


def is_bag(path: str | Path) -> bool:
    """True for a ``.mcap`` file or a folder that holds one (a rosbag2 bag)."""
    p = Path(path)
    return p.suffix.lower() == ".mcap" or (p.is_dir() and any(p.glob("*.mcap")))


_MISSING = "bags need the offline packages mcap and mcap-ros2-support (pip install -r requirements-dev.txt)"


MCAP_MAGIC = b"\x89MCAP0\r\n"
log = logging.getLogger(__name__)  # without a handler, Python prints warnings to stderr as they are
_reported: set[tuple[str, int]] = set()  # (file, size) already reported as cut short


def _reader(f, decode: bool):
    """(reader, summary) of the open MCAP file ``f``: an indexed reader and the file's summary when it
    has one, else a reader of the records in order and None (a bag whose recorder was killed has no
    summary: what was written is kept)."""
    try:
        from mcap.exceptions import McapError
        from mcap.reader import NonSeekingReader, make_reader
        from mcap_ros2.decoder import DecoderFactory
    except ImportError as e:
        raise RuntimeError(f"{_MISSING}: {e}") from None
    if f.read(len(MCAP_MAGIC)) != MCAP_MAGIC:
        raise ValueError(f"{f.name}: not an MCAP file (it does not start with the MCAP magic bytes)")
    f.seek(0)
    factories = [DecoderFactory()] if decode else []
    reader = make_reader(f, decoder_factories=factories)
    try:
        summary = reader.get_summary()
        if summary is not None:
            return reader, summary
    except McapError:
        pass
    f.seek(0)
    return NonSeekingReader(f, decoder_factories=factories), None


def _messages(file: Path, f, decode: bool, topic_names: Sequence[str] | None = None) -> Iterator:
    """The messages of ``topic_names`` in the open file ``f`` ((schema, channel, message[, decoded])),
    in log-time order when the file is indexed, in file order (as recorded) when it is cut short."""
    reader, summary = _reader(f, decode)
    topic_list = list(topic_names) if topic_names is not None else None
    items = (reader.iter_decoded_messages if decode else reader.iter_messages)(
        topics=topic_list, log_time_order=summary is not None)
    return _until_unreadable(file, items)


def _until_unreadable(file: Path, items: Iterator) -> Iterator:
    """``items`` until the file ends or turns unreadable (a bag cut short by a crash or a full disk):
    the messages before that point are kept, and one warning says how much was read."""
    from mcap.exceptions import McapError

    n = 0
    try:
        for item in items:
            yield item
            n += 1
    except (McapError, EOFError, ValueError) as e:
        key = (str(file), file.stat().st_size)
        if key not in _reported:
            _reported.add(key)
            log.warning(f"warning: {file}: cut short: read {n} message(s), the rest of its {key[1]:,} bytes is "
                        f"unreadable ({type(e).__name__}: {str(e) or 'unexpected end of file'}); "
                        "the messages after that point are lost")


def topics(path: str | Path) -> dict[str, tuple[str, int]]:
    """``{topic: (message type, message count)}`` of a bag, from the files' summaries (a file without
    one, e.g. from a recorder that was killed, is scanned)."""
    out: dict[str, tuple[str, int]] = {}
    for file in bag_files(path):
        with open(file, "rb") as f:
            reader, summary = _reader(f, decode=False)
            counts: dict[tuple[str, str], int] = {}
            if summary is not None and summary.statistics is not None:
                for cid, ch in summary.channels.items():
                    schema = summary.schemas.get(ch.schema_id)
                    key = (ch.topic, schema.name if schema else "")
                    counts[key] = counts.get(key, 0) + summary.statistics.channel_message_counts.get(cid, 0)
            else:
                for schema, ch, _msg in _until_unreadable(file, reader.iter_messages(log_time_order=False)):
                    key = (ch.topic, schema.name if schema else "")
                    counts[key] = counts.get(key, 0) + 1
        for (topic, kind), n in counts.items():
            out[topic] = (kind, out.get(topic, (kind, 0))[1] + n)
    return out


def cloud_topics(path: str | Path, wanted: Sequence[str] | None = None) -> dict[str, int]:
    """``{topic: count}`` of the bag's PointCloud2 topics, or of ``wanted`` ones; raises ``ValueError``
    naming the bag's PointCloud2 topics when a wanted topic is not one."""
    all_topics = topics(path)
    clouds = {t: n for t, (kind, n) in all_topics.items() if kind == CLOUD_TYPE}
    if not wanted:
        if not clouds:
            raise ValueError(f"{path}: no {CLOUD_TYPE} topic (topics: {', '.join(sorted(all_topics)) or 'none'})")
        return clouds
    missing = [t for t in wanted if t not in clouds]
    if missing:
        raise ValueError(f"{path}: {', '.join(missing)} is not a {CLOUD_TYPE} topic of this bag "
                         f"(its cloud topics: {', '.join(sorted(clouds)) or 'none'})")
    return {t: clouds[t] for t in wanted}


def stamp_ns(header: Any) -> int:
    """Nanoseconds of a decoded ``std_msgs/Header``'s stamp."""
    return int(header.stamp.sec) * 1_000_000_000 + int(header.stamp.nanosec)


@dataclass
class BagCloud:
    """One decoded PointCloud2 of a bag: ``view`` is the zero-copy structured (height, width) view
    over its data (see ``cloud.cloud_view``); ``index`` counts the topic's messages from 0."""

    topic: str
    index: int
    stamp_ns: int
    log_time_ns: int
    frame_id: str
    view: np.ndarray

    def points(self) -> np.ndarray:
        """(N, 4) float32 x, y, z, intensity of the finite points."""
        return points_from_view(self.view)


def read_clouds(path: str | Path, topic_names: Sequence[str] | None = None) -> Iterator[BagCloud]:
    """The PointCloud2 messages of ``topic_names`` (default: every PointCloud2 topic) in log-time
    order. A malformed cloud raises ``cloud.CloudError`` with the cause."""
    wanted = list(cloud_topics(path, topic_names))
    index = dict.fromkeys(wanted, 0)
    for file in bag_files(path):
        with open(file, "rb") as f:
            for _schema, channel, message, msg in _messages(file, f, True, wanted):
                fields = [Field(pf.name, pf.offset, pf.datatype, pf.count) for pf in msg.fields]
                view = cloud_view(msg.data, fields, msg.point_step, msg.width, msg.height, msg.row_step,
                                  bool(msg.is_bigendian))
                yield BagCloud(channel.topic, index[channel.topic], stamp_ns(msg.header), message.log_time,
                               msg.header.frame_id, view)
                index[channel.topic] += 1


def read_json_topic(path: str | Path, topic: str = GROUND_TRUTH_TOPIC) -> dict[int, dict]:
    """``{stamp ns: document}`` of a ``std_msgs/String`` topic carrying JSON with a ``stamp``
    ({sec, nanosec}) such as ``/ground_truth``; empty when the bag has no such topic."""
    if topics(path).get(topic, ("", 0))[0] != STRING_TYPE:
        return {}
    out: dict[int, dict] = {}
    for file in bag_files(path):
        with open(file, "rb") as f:
            for _schema, _channel, message, msg in _messages(file, f, True, [topic]):
                doc = json.loads(msg.data)
                stamp = doc.get("stamp")
                key = stamp["sec"] * 1_000_000_000 + stamp["nanosec"] if stamp else message.log_time
                out[key] = doc
    return out


def iter_raw(path: str | Path, topic_names: Sequence[str]) -> Iterator[tuple[str, str, int, bytes]]:
    """``(topic, type, log time ns, CDR bytes)`` of every message of ``topic_names``, in log-time
    order per file, undecoded (what a player publishes as it is)."""
    for file in bag_files(path):
        with open(file, "rb") as f:
            for schema, channel, message in _messages(file, f, False, topic_names):
                yield channel.topic, schema.name if schema else "", message.log_time, message.data


class BagWriter:
    """Writes an MCAP bag (zstd chunks) of PointCloud2 and JSON ``std_msgs/String`` messages.

    Use as a context manager, or call ``close()``: the file's index is written at the end.
    """

    def __init__(self, path: str | Path) -> None:
        try:
            from mcap_ros2.writer import Writer
        except ImportError as e:
            raise RuntimeError(f"{_MISSING}: {e}") from None
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(self.path, "wb")
        self._writer = Writer(self._file)
        self._schemas: dict[str, Any] = {}
        self.count = 0

    def _schema(self, kind: str):
        if kind not in self._schemas:
            self._schemas[kind] = self._writer.register_msgdef(kind, MSGDEFS[kind])
        return self._schemas[kind]

    def write_cloud(self, topic: str, array: np.ndarray, stamp: int, frame_id: str = "lidar",
                    height: int = 1, is_dense: bool = True) -> None:
        """Write a structured (N,) ``array`` (any layout, see ``cloud.layout_of``) as a PointCloud2 of
        ``height`` rows, stamped ``stamp`` ns (also the message's log time)."""
        layout = layout_of(array)
        width = array.shape[0] // height if height else 0
        big = bool(layout.fields) and array.dtype.fields[layout.fields[0].name][0].byteorder == ">"
        sec, nanosec = divmod(int(stamp), 1_000_000_000)
        msg = {
            "header": {"stamp": {"sec": sec, "nanosec": nanosec}, "frame_id": frame_id},
            "height": height,
            "width": width,
            "fields": [{"name": f.name, "offset": f.offset, "datatype": f.datatype, "count": f.count}
                       for f in layout.fields],
            "is_bigendian": big,
            "point_step": layout.point_step,
            "row_step": layout.point_step * width,
            "data": array.tobytes(),
            "is_dense": is_dense,
        }
        self._writer.write_message(topic, self._schema(CLOUD_TYPE), msg, log_time=int(stamp),
                                   sequence=self.count)
        self.count += 1

    def write_json(self, topic: str, doc: dict, stamp: int) -> None:
        """Write ``doc`` as JSON in a ``std_msgs/String`` logged at ``stamp`` ns."""
        self._writer.write_message(topic, self._schema(STRING_TYPE), {"data": json.dumps(doc)},
                                   log_time=int(stamp), sequence=self.count)
        self.count += 1

    def close(self) -> None:
        """Write the summary and index and close the file."""
        if not self._file.closed:
            self._writer.finish()
            self._file.close()

    def __enter__(self) -> BagWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
