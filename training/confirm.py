"""``confirm: K``: the winning trial of a script project run again with K other seeds.

A script evaluates where it does, so the best of many trials on the same rows is an optimistic figure. The
re-runs use the winner's script unchanged with seeds ``seed + 1 .. seed + K``; they are stored as trials that
``confirm`` the winner (never candidates themselves), and the run is judged on their mean.
"""

from __future__ import annotations

import time
from pathlib import Path

from core.records import Trial, TrialStatus
from training.tuner import TuneContext, ended_trial, trial_spec, value_text


def confirm_winner(ctx: TuneContext, best: Trial | None, k: int) -> list[Trial]:
    """Run the winner again with ``k`` other seeds (skipping seeds already run, so a resumed run continues).

    Returns:
        The re-runs, in seed order.
    """
    if best is None or k < 1:
        return []
    cfg, out, store = ctx.cfg, ctx.out, ctx.store
    done = {t.config.get("seed"): t for t in store.trials(ctx.run_id)
            if t.confirms == best.number and t.status is TrialStatus.OK}
    script = Path(best.script) if best.script else None
    deadline = time.time() + cfg.trial.time_limit_s * k
    reruns = []
    for seed in range(cfg.trial.seed + 1, cfg.trial.seed + 1 + k):
        if seed in done:
            reruns.append(done[seed])
            continue
        trial = store.create_trial(ctx.run_id, Trial(
            config={**best.config, "seed": seed}, label=f"confirm trial {best.number}, seed {seed}",
            tweaks=best.tweaks, source_hash=best.source_hash, diff=best.diff, confirms=best.number,
            started_at=time.time()))
        trial_dir = ctx.run_dir / f"trial-{trial.number:03d}"
        trial_dir.mkdir(parents=True, exist_ok=True)
        out.step(f"confirm trial {best.number} with seed {seed} (trial {trial.number})")
        result = ctx.backend.run_trial(trial_spec(ctx, trial.number, trial_dir, script, deadline, seed=seed),
                                       out.trial_line)
        ended = ended_trial(trial, result, script, trial_dir, [], cfg).model_copy(update={"finished_at": time.time()})
        store.finish_trial(ended)
        value = value_text(ended, cfg.metric) if ended.value is not None else f"FAILED {ended.error}"
        out.info(f"trial {ended.number}  seed {seed}  {value}")
        reruns.append(ended)
    return reruns
