"""The pipeline's stages, defined once: ``mlops run`` runs them in this order, each is also its own ``mlops``
command (the CLI derives them from this list), and the Jenkinsfile has one stage per entry calling exactly that
command (and, for a stage with workers, that command on the controller in parallel with the workers' call on each
agent). This list is the only place a stage is named.

Validate data runs before anything is trained; Evaluate is the gate (blessed or not, always recorded); Push model
moves ``production`` (``approval: auto``) or ``candidate`` (``manual``); Approve is a person's: in Jenkins an
``input`` step, then the same ``mlops promote`` anyone can run.
"""

from __future__ import annotations

from mlops.pipeline.stages._base import BaseStage, OutsideRun, Stage
from mlops.pipeline.stages.build import BuildImage
from mlops.pipeline.stages.detect import Detect
from mlops.pipeline.stages.evaluate import Evaluate
from mlops.pipeline.stages.push import PushModel
from mlops.pipeline.stages.train import TrainAndTune
from mlops.pipeline.stages.validate import ValidateData

__all__ = ["POST_ALWAYS", "STAGES", "BaseStage", "BuildImage", "Detect", "Evaluate", "OutsideRun", "PushModel",
           "Stage", "TrainAndTune", "ValidateData", "stage_called"]

#: The training pipeline, in order.
STAGES: tuple[Stage, ...] = (
    OutsideRun("Checkout", "mlops --version"),
    ValidateData("Validate data", 'mlops data validate "$PROJECT_DIR"'),
    Detect("Detect", 'mlops detect "$PROJECT_DIR"'),
    BuildImage("Build image", 'mlops build "$PROJECT_DIR"'),
    TrainAndTune("Train and tune", 'mlops train "$PROJECT_DIR" --out "$OUT" --run-id "$BUILD_TAG"',
                 workers='mlops worker "$BUILD_TAG" --project "$PROJECT_DIR"'),
    Evaluate("Evaluate", 'mlops evaluate "$OUT/summary.json"'),
    PushModel("Push model", 'mlops push "$OUT/summary.json"'),
    OutsideRun("Approve", 'mlops promote "$OUT/summary.json" --to production --reason "$APPROVAL_REASON"'),
    OutsideRun("Deploy", 'mlops deploy "$OUT/summary.json"'),
)

#: What runs after the stages whatever happened (the Jenkinsfile's ``post { always }``).
POST_ALWAYS: tuple[str, ...] = (
    'mlops show "$OUT/summary.json" --oneline',
    'mlops notify "$OUT/summary.json" --strict',
)


def stage_called(*words: str) -> Stage:
    """The stage whose ``mlops`` command is ``words`` (``stage_called("train")``).

    Raises:
        LookupError: No stage calls that command.
    """
    for stage in STAGES:
        if stage.cli == words:
            return stage
    raise LookupError(f"no stage calls 'mlops {' '.join(words)}'")
