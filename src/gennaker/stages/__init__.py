"""Stage types, one module each, registered under their Spinnaker `type`."""

from gennaker.engine.registry import Registry
from gennaker.stages.artifacts import BindProducedArtifactsTask
from gennaker.stages.check_preconditions import (
    CheckPreconditionsStage,
    CheckPreconditionStage,
    ExpressionPreconditionTask,
    StageStatusPreconditionTask,
)
from gennaker.stages.evaluate_variables import EvaluateVariablesStage, EvaluateVariablesTask
from gennaker.stages.execution_window import ExecutionWindowStage, SuspendForWindowTask
from gennaker.stages.find_artifact_from_execution import FindArtifactFromExecutionStage, FindArtifactFromExecutionTask
from gennaker.stages.manual_judgment import ManualJudgmentStage, WaitForJudgmentTask
from gennaker.stages.pipeline import MonitorPipelineTask, PipelineStage, StartPipelineTask
from gennaker.stages.wait import WaitStage, WaitTask


def core_registry() -> Registry:
    registry = Registry()
    registry.add_tasks(BindProducedArtifactsTask())
    registry.add_stage(WaitStage(), WaitTask())
    registry.add_stage(ManualJudgmentStage(), WaitForJudgmentTask())
    registry.add_stage(CheckPreconditionsStage())
    registry.add_stage(CheckPreconditionStage(), ExpressionPreconditionTask(), StageStatusPreconditionTask())
    registry.add_stage(EvaluateVariablesStage(), EvaluateVariablesTask())
    registry.add_stage(PipelineStage(), StartPipelineTask(), MonitorPipelineTask())
    registry.add_stage(ExecutionWindowStage(), SuspendForWindowTask())
    registry.add_stage(FindArtifactFromExecutionStage(), FindArtifactFromExecutionTask())
    return registry
