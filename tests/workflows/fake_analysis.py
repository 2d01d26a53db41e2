"""A stand-in AnalysisRunWorkflow for the RolloutWorkflow's tests (its own module, so the
workflow sandbox can import it without the test module's activities)."""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from bosun.protocol import WorkflowType
    from workflows.analysis import AnalysisRunInput, AnalysisRunResult


@workflow.defn(name=WorkflowType.ANALYSIS_RUN)
class FakeAnalysisRun:
    """Stands in for AnalysisRunWorkflow: measures for ten minutes, then the template named
    ``pass`` succeeds, ``inconclusive`` is Inconclusive and any other fails; ``forever``
    measures until cancelled (a background run the rollout terminates)."""

    @workflow.run
    async def run(self, input: AnalysisRunInput) -> AnalysisRunResult:
        template = input.analysis["templates"][0]["templateName"]
        await workflow.sleep(86400 * 365 if template == "forever" else 600)
        phase = {"pass": "Successful", "forever": "Successful", "inconclusive": "Inconclusive"}.get(template, "Failed")
        return AnalysisRunResult(
            name=input.name,
            phase=phase,
            message="" if phase == "Successful" else f"metric success-rate assessed {phase}",
        )
