"""The pipeline's stages, defined once: ``mlops run`` runs them in this order, each is also its own
``mlops`` command, and the Jenkinsfile has one stage per entry calling exactly that command (and, for a stage
with workers, that command on the controller in parallel with the workers' call on each agent).

Validate data runs before anything is trained; Evaluate is the gate (blessed or not, always recorded); Push model
moves ``production`` (``approval: auto``) or ``candidate`` (``manual``); Approve is a person's: in Jenkins an
``input`` step, then the same ``mlops promote`` anyone can run.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Stage:
    """One stage of the pipeline.

    Args:
        name: The Jenkins stage name.
        command: The one ``mlops`` call of the Jenkins stage (shell syntax, Jenkins variables).
        in_run: Whether ``mlops run`` runs it (Checkout is Jenkins's; Approve a person's; Deploy is its own step).
        workers: The call each agent makes in parallel with ``command`` (the Jenkinsfile's ``parallel`` branches
            over ``AGENTS`` agents labelled ``AGENT_LABEL``), or ``None`` for a stage of the controller alone.
    """

    name: str
    command: str
    in_run: bool = True
    workers: str | None = None

    @property
    def calls(self) -> list[str]:
        """Every ``mlops`` call of the stage, in the Jenkinsfile's order."""
        return [self.command, *([self.workers] if self.workers else [])]


#: The training pipeline, in order.
STAGES: tuple[Stage, ...] = (
    Stage("Checkout", "mlops --version", in_run=False),
    Stage("Validate data", 'mlops data validate "$PROJECT_DIR"'),
    Stage("Detect", 'mlops detect "$PROJECT_DIR"'),
    Stage("Build image", 'mlops build "$PROJECT_DIR"'),
    Stage("Train and tune", 'mlops train "$PROJECT_DIR" --out "$OUT" --run-id "$BUILD_TAG"',
          workers='mlops worker "$BUILD_TAG" --project "$PROJECT_DIR"'),
    Stage("Evaluate", 'mlops evaluate "$OUT/summary.json"'),
    Stage("Push model", 'mlops push "$OUT/summary.json"'),
    Stage("Approve", 'mlops promote "$OUT/summary.json" --to production --reason "$APPROVAL_REASON"', in_run=False),
    Stage("Deploy", 'mlops deploy "$OUT/summary.json"', in_run=False),
)

#: What runs after the stages whatever happened (the Jenkinsfile's ``post { always }``).
POST_ALWAYS: tuple[str, ...] = (
    'mlops show "$OUT/summary.json" --oneline',
    'mlops notify "$OUT/summary.json" --strict',
)


def stage_names() -> list[str]:
    """The Jenkins stage names in order."""
    return [s.name for s in STAGES]
