"""`metrics.json` as the markdown tables of `report.md` (and of the model card), and the
"beats its rivals" verdicts `daw-diffusion evaluate` prints."""

from __future__ import annotations


def beats(results: dict, model: str, case: str, rivals: tuple[str, ...]) -> bool:
    """Lower L1 and higher chroma correlation than every rival in `case`."""
    rows = results["regions"][case]
    return all(rows[model]["log_mel_l1_db"] < rows[r]["log_mel_l1_db"]
               and rows[model]["chroma_correlation"] > rows[r]["chroma_correlation"] for r in rivals)


def iterations(count: int | None) -> str:
    return "Griffin-Lim iterations by task" if count is None else f"{count} Griffin-Lim iterations"


def report(r: dict) -> str:
    """The numbers of `metrics.json` as markdown tables."""
    settings = "; ".join(f"{name}: {s['sampler']} {s['steps']} steps, {iterations(s['griffin_lim_iters'])}, "
                         f"{s['context_seconds']:g} s of context, guide {s['guide']:g}" for name, s in r["settings"].items())
    lines = [f"Held-out clips: {len(r['clips'])} × {r['clips'][0]['seconds']:g} s from different tracks. "
             f"Each model at its own defaults ({settings}).", "",
             "| region | method | log-mel L1 (dB) | chroma corr. | seam |", "|---|---|---:|---:|---:|"]
    for case, rows in r["regions"].items():
        for method, m in sorted(rows.items(), key=lambda kv: kv[1]["log_mel_l1_db"]):
            lines.append(f"| {case} | {method} | {m['log_mel_l1_db']:.2f} | {m['chroma_correlation']:.3f} | {m['seam']:.2f} |")
    lines += ["", "| generation | Fréchet distance | CREPE Fréchet distance | pitched frames | periodicity | chroma peak "
              "| onset peakiness | onset autocorr. | ripple 43 Hz (dB) | ripple 86 Hz (dB) |",
              "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    generation = r["generation"]
    rows = {**generation.get("yardsticks", {}), **{k: v for k, v in generation.items() if k != "yardsticks"}}
    for name, m in rows.items():
        fd, crepe = (f"{m[k]:.1f}" if k in m else "—" for k in ("frechet_distance", "crepe_frechet_distance"))
        pitched, periodicity = (f"{m[k]:.3f}" if k in m else "—" for k in ("pitched", "periodicity"))
        lines.append(f"| {name} | {fd} | {crepe} | {pitched} | {periodicity} | {m['chroma_peak']:.2f} | {m['onset_peakiness']:.2f} | "
                     f"{m['onset_autocorrelation']:.3f} | {m['ripple_43hz_db']:.1f} | {m['ripple_86hz_db']:.1f} |")
    lines += ["", "| style strength | " + " | ".join(f"{n}: chroma / onset corr. / pitched kept" for n in r["style_transfer"])
              + " |",
              "|---:|" + "---:|" * len(r["style_transfer"])]
    for i, strength in enumerate(next(iter(r["style_transfer"].values()))):
        cells = [f"{rows_[i]['chroma_correlation']:.3f} / {rows_[i]['onset_correlation']:.3f} / "
                 f"{rows_[i].get('pitched_kept', float('nan')):.2f}" for rows_ in r["style_transfer"].values()]
        lines.append(f"| {strength['strength']:.1f} | " + " | ".join(cells) + " |")
    levels = r.get("noise_levels")
    if levels:
        models = [name for name in levels if name != "levels"]
        lines += ["", "| timestep | " + " | ".join(f"{n}: loss / floor" for n in models) + " |",
                  "|---:|" + "---:|" * len(models)]
        for i, level in enumerate(levels["levels"]):
            lines.append(f"| {level} | " + " | ".join(f"{levels[n]['loss'][i]:.3f} / {levels[n]['floor'][i]:.3f}"
                                                      for n in models) + " |")
    if r.get("guide_curve"):
        lines += ["", "| guide | gap 2 s L1 / chroma | extension 2 s L1 / chroma |", "|---:|---:|---:|"]
        for row in r["guide_curve"]:
            g, e = row["gap_2s"], row["extension_2s"]
            lines.append(f"| {row['guide']:.2f} | {g['log_mel_l1_db']:.2f} / {g['chroma_correlation']:.3f} | "
                         f"{e['log_mel_l1_db']:.2f} / {e['chroma_correlation']:.3f} |")
    if r["training_curve"]:
        lines += ["", "| training (s) | steps | gap 2 s L1 / chroma | extension 2 s L1 / chroma | generation FD |",
                  "|---:|---:|---:|---:|---:|"]
        for row in r["training_curve"]:
            g, e = row["gap_2s"], row["extension_2s"]
            lines.append(f"| {row['train_seconds']} | {row['steps']} | {g['log_mel_l1_db']:.2f} / {g['chroma_correlation']:.3f} | "
                         f"{e['log_mel_l1_db']:.2f} / {e['chroma_correlation']:.3f} | {row['generation_frechet_distance']:.1f} |")
    return "\n".join(lines) + "\n"
