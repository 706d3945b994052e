"""XFS's allocation retry warning in every form fs/xfs printed it, on real lines.

- "xfs: possible memory allocation deadlock in kmem_alloc (mode:0xd0)": 2.6.9-rc4, Danny ter Haar's
  usenet server (linux-kernel, 13 Oct 2004, quoted in the reply "Try to increase
  /proc/sys/vm/min_free_kbytes").
- "XFS: possible memory allocation deadlock in kmem_alloc (mode:0x250)": 2.6/3.x, a MySQL server's
  syslog quoted on linux-xfs ("thales kernel: ...").
- "XFS: fs_mark(8414) possible memory allocation deadlock size 65768 in kmem_alloc (mode:0x2d40)":
  4.x, Dave Chinner's patch mail on 64kB xattrs, as quoted in its review.
- "XFS: loop0(15174) possible memory allocation deadlock size 107168 in kmem_alloc (mode:0x2400240)":
  4.4, tests/data/wild/2016-03-29_real-loop0-xfs-kmem-alloc-order5-nofs-retry-congestion-wait.log
  (wrapped by the mailer after "in"; the wrap is joined back).
"""

from __future__ import annotations

import pytest

import stallscope
from conftest import DATA
from stallscope.api import load_lines

CASES = [
    ("xfs: possible memory allocation deadlock in kmem_alloc (mode:0xd0)",
     {"function": "kmem_alloc", "mode": "0xd0"}),
    ("thales kernel: XFS: possible memory allocation deadlock in kmem_alloc (mode:0x250)",
     {"function": "kmem_alloc", "mode": "0x250"}),
    ("XFS: fs_mark(8414) possible memory allocation deadlock size 65768 in kmem_alloc (mode:0x2d40)",
     {"comm": "fs_mark", "pid": "8414", "size_bytes": "65768", "function": "kmem_alloc", "mode": "0x2d40"}),
]


@pytest.mark.parametrize(("line", "fields"), CASES)
def test_the_retry_line_gives_its_fields(line: str, fields: dict[str, str]) -> None:
    capture = load_lines("xfs.log", [line])
    assert capture.events["kind"].tolist() == ["xfs_alloc_retry"]
    got = capture.events["fields"].iloc[0]
    assert {key: got.get(key) for key in fields} == fields


def test_the_mailers_wrap_is_joined_back() -> None:
    log = DATA / "wild" / "2016-03-29_real-loop0-xfs-kmem-alloc-order5-nofs-retry-congestion-wait.log"
    capture = stallscope.load(str(log), keep_unparsed=True)
    (text,) = capture.events.loc[capture.events["kind"] == "xfs_alloc_retry", "text"].tolist()
    assert text == ("XFS: loop0(15174) possible memory allocation deadlock size 107168 in kmem_alloc "
                    "(mode:0x2400240)")
    assert not capture.unparsed
