"""Read and write the BIF (Bayesian Interchange Format) of the bnlearn repository.

Only what discrete networks use: ``variable NAME { type discrete [ k ] { s1, s2, ... }; }``
and ``probability ( CHILD | P1, P2 ) { table ...; }`` or one ``(p1, p2) v1, v2, ...;``
line per parent configuration. ``property`` lines and the ``network`` block are read
and ignored. State names stay strings exactly (``None``, ``TRUE``).

>>> bn = read_bif_string('''
... network n { }
... variable rain { type discrete [ 2 ] { yes, no }; }
... variable wet { type discrete [ 2 ] { yes, no }; }
... probability ( rain ) { table 0.2, 0.8; }
... probability ( wet | rain ) { (yes) 0.9, 0.1; (no) 0.1, 0.9; }
... ''')
>>> bn.variables, bn.cpts[1].tolist()
(['rain', 'wet'], [[0.9, 0.1], [0.1, 0.9]])
>>> read_bif_string(write_bif_string(bn)).cpts[1].tolist()
[[0.9, 0.1], [0.1, 0.9]]
"""

from __future__ import annotations

import itertools
import os
import re
from pathlib import Path

import numpy as np

from genlab.exceptions import DataError, InvalidParameterError
from genlab.models.bayesnet.network import DiscreteBN
from genlab.utils.serialization import atomic_write_bytes

__all__ = ["read_bif", "read_bif_string", "write_bif", "write_bif_string"]

_VARIABLE = re.compile(r"variable\s+([^\s{]+)\s*\{((?:[^{}]|\{[^{}]*\})*)\}", re.DOTALL)   # one nested {...}
_TYPE = re.compile(r"type\s+discrete\s*\[\s*(\d+)\s*\]\s*\{(.*?)\}\s*;", re.DOTALL)
_PROB = re.compile(r"probability\s*\(\s*([^|)]+?)\s*(?:\|\s*([^)]*?))?\s*\)\s*\{(.*?)\}", re.DOTALL)
_ROW = re.compile(r"\(([^)]*)\)\s*([^;]*);")
_TABLE = re.compile(r"table\s+([^;]*);")


def _split_list(text: str) -> list[str]:
    return [t.strip() for t in text.replace("\n", " ").split(",") if t.strip()]


def _numbers(text: str, where: str) -> np.ndarray:
    try:
        return np.array([float(t) for t in re.split(r"[\s,]+", text.strip()) if t], dtype=np.float64)
    except ValueError:
        raise DataError(f"BIF {where}: probabilities must be numbers; got {text.strip()[:60]!r}.") from None


def read_bif_string(text: str, source: str = "<string>") -> DiscreteBN:
    """A :class:`DiscreteBN` from BIF text. Malformed input raises DataError naming the block."""
    text = re.sub(r"//[^\n]*", "", text)                        # comments
    variables, states = [], []
    for name, body in _VARIABLE.findall(text):
        m = _TYPE.search(body)
        if m is None:
            raise DataError(f"{source}: variable {name!r} is not 'type discrete [ k ] {{ ... }};' (only discrete "
                            "networks are supported).")
        st = _split_list(m.group(2))
        if len(st) != int(m.group(1)):
            raise DataError(f"{source}: variable {name!r} declares {m.group(1)} states but lists {len(st)}: {st}.")
        variables.append(name)
        states.append(st)
    if not variables:
        raise DataError(f"{source}: no 'variable' blocks found; is this a BIF file?")
    index = {v: i for i, v in enumerate(variables)}
    parents: list[tuple[int, ...] | None] = [None] * len(variables)
    cpts: list[np.ndarray | None] = [None] * len(variables)
    for child, par_text, body in _PROB.findall(text):
        if child not in index:
            raise DataError(f"{source}: probability block for undeclared variable {child!r}.")
        v = index[child]
        pnames = _split_list(par_text or "")
        for p in pnames:
            if p not in index:
                raise DataError(f"{source}: {child!r} has the undeclared parent {p!r}.")
        ps = tuple(index[p] for p in pnames)
        card = [len(states[p]) for p in ps]
        shape = (*card, len(states[v]))
        where = f"probability ( {child} )"
        table = _TABLE.search(body)
        if table is not None:
            values = _numbers(table.group(1), where)
            if values.size != int(np.prod(shape)):
                raise DataError(f"{source}: {where} has {values.size} numbers; expected {int(np.prod(shape))}.")
            # with parents, a 'table' lists the child's state slowest and the parent configurations
            # fastest (pgmpy's writer); for a root node it is simply the distribution
            cpt = values.reshape(len(states[v]), -1).T.reshape(shape)
        else:
            cpt = np.full(shape, np.nan)
            for cfg, vals in _ROW.findall(body):
                names = _split_list(cfg)
                if len(names) != len(ps):
                    raise DataError(f"{source}: {where}: configuration ({cfg}) needs {len(ps)} parent states.")
                try:
                    idx = tuple(states[p].index(n) for p, n in zip(ps, names))
                except ValueError:
                    raise DataError(f"{source}: {where}: unknown parent state in ({cfg}).") from None
                row = _numbers(vals, where)
                if row.size != len(states[v]):
                    raise DataError(f"{source}: {where}: ({cfg}) has {row.size} numbers; expected {len(states[v])}.")
                cpt[idx] = row
            if np.isnan(cpt).any():
                raise DataError(f"{source}: {where} does not give every parent configuration.")
        if (cpt < 0).any():
            raise DataError(f"{source}: {where} has negative probabilities.")
        sums = cpt.sum(-1, keepdims=True)
        if not np.allclose(sums, 1.0, atol=1e-4):
            raise DataError(f"{source}: {where}: rows must sum to 1; a row sums to "
                            f"{float(sums.reshape(-1)[np.argmax(np.abs(sums - 1).reshape(-1))]):.6g}.")
        # published tables are rounded (rows off by up to 1e-7 in sachs and alarm): rescale exactly
        parents[v], cpts[v] = ps, cpt / sums
    missing = [variables[v] for v in range(len(variables)) if cpts[v] is None]
    if missing:
        raise DataError(f"{source}: no probability block for {missing}.")
    try:
        return DiscreteBN(variables, states, list(parents), list(cpts))
    except InvalidParameterError as err:
        raise DataError(f"{source}: {err}") from None


def read_bif(path: str | os.PathLike) -> DiscreteBN:
    """Read a ``.bif`` file (e.g. from the bnlearn repository)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"BIF file {path} not found.")
    return read_bif_string(path.read_text(encoding="utf-8"), source=str(path))


def _fmt(x: float) -> str:
    return repr(float(x))


def write_bif_string(bn: DiscreteBN, name: str = "genlab") -> str:
    """BIF text of a network with CPTs (rows per parent configuration; repr floats, so reading it back is exact)."""
    if not bn.cpts:
        raise InvalidParameterError("the network has no CPTs to write; fit its parameters first.")
    out = [f"network {name} {{\n}}"]
    for v, st in zip(bn.variables, bn.states):
        out.append(f"variable {v} {{\n  type discrete [ {len(st)} ] {{ {', '.join(st)} }};\n}}")
    for v in range(bn.n_variables):
        ps = bn.parents[v]
        cpt = bn.cpts[v]
        if not ps:
            out.append(f"probability ( {bn.variables[v]} ) {{\n  table {', '.join(map(_fmt, cpt))};\n}}")
            continue
        rows = []
        for cfg in itertools.product(*(range(len(bn.states[p])) for p in ps)):
            names = ", ".join(bn.states[p][i] for p, i in zip(ps, cfg))
            rows.append(f"  ({names}) {', '.join(map(_fmt, cpt[cfg]))};")
        head = f"probability ( {bn.variables[v]} | {', '.join(bn.variables[p] for p in ps)} ) {{"
        out.append(head + "\n" + "\n".join(rows) + "\n}")
    return "\n".join(out) + "\n"


def write_bif(bn: DiscreteBN, path: str | os.PathLike, name: str = "genlab") -> Path:
    """Write ``bn`` to a ``.bif`` file atomically."""
    path = Path(path)
    atomic_write_bytes(path, write_bif_string(bn, name).encode("utf-8"))
    return path
