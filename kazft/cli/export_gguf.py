"""``kazft export ... --format gguf``: write, report the size and the drift, add the Modelfile."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def export_gguf_cli(src: Any, out: Path, gtype: str, force: bool, drift: bool = True) -> None:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from kazft.artifacts.atomic import atomic_write
    from kazft.errors import KazftError
    from kazft.export.gguf import export_gguf, gguf_name
    from kazft.export.gguf_check import gguf_drift
    from kazft.export.modelfile import lmstudio_note, modelfile

    with Progress(
        TextColumn("writing GGUF tensors"), BarColumn(), MofNCompleteColumn(), transient=True
    ) as bar:
        task = bar.add_task("gguf", total=None)
        result = export_gguf(
            src, out, gtype, force, progress=lambda i, n: bar.update(task, completed=i, total=n)
        )
    print(
        f"wrote {gtype} GGUF to {out}: {result.bytes:,} bytes, {result.tensors} tensors, "
        f"{result.params:,} parameters, vocabulary {result.vocab:,}"
    )
    if drift:
        try:
            d, dtype = gguf_drift(src, out, result.params)
        except KazftError as err:  # the file is written; the measurement is a report
            print(f"drift not measured: {err}")
        else:
            print(f"GGUF read back in {dtype}; " + d.report().replace("fused", "GGUF"))
    system = src.recipe.data.system_prompt if src.recipe is not None else None
    context = src.recipe.data.max_seq_length if src.recipe is not None else 4096
    atomic_write(out.with_suffix(".Modelfile"), modelfile(out.name, system, max(context, 2048)))
    info = {"name": gguf_name(src), "type": gtype, "bytes": result.bytes}
    atomic_write(out.with_suffix(".lmstudio.md"), lmstudio_note(out.name, system, info))
    print(
        f"wrote {out.with_suffix('.Modelfile')} (ollama create NAME -f that file) and "
        f"{out.with_suffix('.lmstudio.md')}"
    )
