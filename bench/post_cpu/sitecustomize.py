"""Loaded into the bench's server (PYTHONPATH) by ``python -m bench.post_cpu``: counts the SQL
statements psycopg runs, by statement, into the file PC_COUNT_FILE names (rewritten every 0.3 s)."""

import collections
import json
import os
import threading
import time
from typing import Any

_out = os.environ.get("PC_COUNT_FILE")
if _out:
    import psycopg

    counts: collections.Counter[str] = collections.Counter()

    def _counted(name: str) -> Any:
        orig = getattr(psycopg.Cursor, name)

        def wrap(self: Any, query: Any, *a: Any, **k: Any) -> Any:
            q = query if isinstance(query, (str, bytes)) else query.as_string(self)
            q = q.decode() if isinstance(q, bytes) else q
            key = name + " " + " ".join(q.split())[:90]
            if os.environ.get("PC_CALLERS"):
                import sys as _s
                f, chain = _s._getframe(1), []
                while f is not None and len(chain) < 4:
                    fn = f.f_code.co_filename
                    if ("/shared/" in fn or "/services/" in fn) and "/site-packages/" not in fn:
                        chain.append(fn.rsplit("/", 1)[-1] + ":" + f.f_code.co_name)
                    f = f.f_back
                key += "  <- " + " < ".join(chain)
            counts[key] += 1
            return orig(self, query, *a, **k)

        return wrap

    for _name in ("execute", "executemany"):
        setattr(psycopg.Cursor, _name, _counted(_name))

    def _dump(path: str) -> None:
        while True:
            time.sleep(0.3)
            with open(path + ".tmp", "w") as f:
                json.dump(dict(counts), f)
            os.replace(path + ".tmp", path)

    threading.Thread(target=_dump, args=(_out,), daemon=True).start()
