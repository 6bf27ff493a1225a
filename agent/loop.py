"""The planner loop: prompt -> constrained action -> tool -> observation -> go on or stop.

`stream()` / `resume()` are generators of events; `run()` drains one. Nothing here prints.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

from agent.action import PLAN_SCHEMA, Action, call_key, parse_plan
from agent.action_format import parse_action
from agent.active_run import ActiveRun
from agent.config import AgentConfig
from agent.errors import Finished, InvalidAction, RunFailed, RunStop, SetupError
from agent.events import ActionChosen, ErrorEvent, Event, Observation, PlanUpdated, RunFinished, RunStarted
from agent.goal_inputs import INPUTS_PUT_BACK_BEFORE_STOP
from agent.history import PromptContext, PromptContextCache, new_plan, plan_messages
from agent.llm.base import ChatModel, DecodingParams
from agent.result import Approver, RunResult
from agent.state import RunState, advance_plan, close_plan
from agent.step_decoder import StepDecoder
from agent.store import RunStore, RunWriter, new_run_id
from prompts import render
from sandbox.base import Sandbox
from sandbox.factory import sandbox_factory as default_sandbox_factory
from tools.base import InterpreterLog, ToolContext, ToolRegistry
from tools.files import workspace_files
from tools.registry import FINISH, PYTHON, default_tools

MAX_LOGGED_OUTPUT = 20_000


class Agent:
    def __init__(self, model: ChatModel, *, config: AgentConfig | None = None, tools: ToolRegistry | None = None,
                 store: RunStore | None = None, sandbox_factory: Callable[[], Sandbox] | None = None,
                 approver: Approver | None = None, on_text: Callable[[str], None] | None = None,
                 model_spec: str = "default", adapter: str = "") -> None:
        """`model_spec` and `adapter` (a LoRA adapter folder, or "") are recorded so that resume loads the same."""
        self.model = model
        self.model_spec = model_spec
        self.adapter = adapter
        self.config = config or AgentConfig()
        self.tools = tools or default_tools(shell=self.config.shell)
        self.store = store or RunStore()
        self.sandbox_factory = sandbox_factory or default_sandbox_factory(
            self.config.sandbox, self.config.workspace.resolve(), self.config.sandbox_config)
        self.approver = approver
        self.on_text = on_text
        self.result: RunResult | None = None
        self._prompts = PromptContextCache()

    # -- entry points --------------------------------------------------------------------------------

    def run(self, goal: str) -> RunResult:
        for _ in self.stream(goal):
            pass
        assert self.result is not None
        return self.result

    def stream(self, goal: str, *, run_id: str | None = None) -> Iterator[Event]:
        run_id = run_id or new_run_id()
        workspace = self.config.workspace.resolve()
        if not workspace.is_dir():
            raise SetupError(f"workspace {workspace} is not a directory")
        writer = self.store.create(run_id, {"run_id": run_id, "goal": goal, "model": self.model.name,
                                            "model_spec": self.model_spec, "adapter": self.adapter,
                                            "started": time.time(),
                                            "config": self.config.model_dump(mode="json")})
        started = RunStarted(run_id, goal, self.model.name, self.model.device, str(workspace),
                             self.config.model_dump(mode="json"), files=tuple(workspace_files(workspace)))
        return self._drive(self._new_run(RunState(), writer), [started])

    def resume(self, run_id: str) -> Iterator[Event]:
        log = self.store.load(run_id)
        state = RunState.from_events(log.events)
        if state.final is not None:
            raise SetupError(f"run {run_id} already ended ({state.final.status}); nothing to resume")
        opening: list[Event] = []
        if (pending := state.pending_action) is not None:
            opening.append(Observation(pending.step, pending.tool, render("feedback", kind="interrupted",
                                       detail=pending.step), ok=False, interrupted=True))
        return self._drive(self._new_run(state, self.store.reopen(run_id), log.elapsed_s), opening)

    # -- the loop ------------------------------------------------------------------------------------

    def _drive(self, run: ActiveRun, opening: list[Event]) -> Iterator[Event]:
        try:
            for event in opening:
                yield run.emit(event)
            if self.config.plan and not run.state.plan and not run.state.turns:
                yield from self._make_plan(run)
            while True:
                run.check_budget(self.config.budget)
                chosen = yield from self._decide(run)
                if chosen is None:
                    continue
                yield run.emit(chosen)
                observation = self._execute(run, chosen)
                yield run.emit(observation)
                yield from self._after_step(run, chosen, observation)
        except RunStop as stop:
            yield from self._finish(run, stop)
        finally:
            run.tools.close()
            run.writer.close()

    def _make_plan(self, run: ActiveRun) -> Iterator[Event]:
        generation = self.model.generate(plan_messages(self.prompt_context(run.state)), json_schema=PLAN_SCHEMA,
                                         params=DecodingParams(max_new_tokens=96), on_text=self.on_text)
        try:
            steps = new_plan(parse_plan(generation.text))
        except InvalidAction as exc:
            yield run.emit(ErrorEvent(0, "invalid_plan", str(exc), generation.tokens_in,
                                             generation.tokens_out))
            return
        yield run.emit(PlanUpdated(advance_plan(steps, 1, True), 0, generation.tokens_in,
                                          generation.tokens_out))

    def _decide(self, run: ActiveRun) -> Iterator[Event]:
        """One step: ask the model for an action, up to `decode_attempts` times. A call whose arguments fail
        their tool's check (code that does not compile) or that just failed unchanged is decoded again from
        the same prompt, sampled at a low temperature; other rejections are fed back. When no call passes,
        the first that failed its check is chosen: the model then reads its error, and nothing runs."""
        step, fallback = run.state.step + 1, None
        decoder = StepDecoder(self.model, self.tools, self.config, self.prompt_context(run.state), self.on_text)
        for attempt in range(self.config.decode_attempts):
            generation = decoder.generate(run, step, attempt)
            try:
                action = parse_action(generation.text, self.tools)
                rejected = run.strategy.rejection(action.key(), action.tool) or self._check(action)
            except InvalidAction as exc:
                action, rejected = None, ("invalid_output", str(exc))
            chosen = action and ActionChosen(step, action.thought, action.tool, action.args, action.plan_step,
                                             generation.tokens_in, generation.tokens_out,
                                             round(generation.seconds, 3), round(generation.prefill_seconds, 3))
            if rejected is None:
                return chosen
            kind, message = rejected
            if kind == "repeated_action":
                yield from self._strike(run, step, message, generation.tokens_in, generation.tokens_out,
                                        avoid_tool=action.tool)
            else:
                yield run.emit(ErrorEvent(step, kind, message, generation.tokens_in, generation.tokens_out,
                                          generation.text))
                fallback = fallback or (chosen if kind == "failed_check" else None)
                if kind == "invalid_output":
                    run.strategy = run.strategy.after("invalid_output", message)
            run.check_budget(self.config.budget)
        return fallback

    def _check(self, action: Action) -> tuple[str, str] | None:
        problem = self.tools.get(action.tool).problem(action.args)
        return None if problem is None else ("failed_check", problem)

    def _execute(self, run: ActiveRun, chosen: ActionChosen) -> Observation:
        declined = None
        may_send_back = chosen.tool == FINISH and run.finishes_sent_back() < self.config.finish_checks
        unfinished = run.unwritten_files() if may_send_back else []
        if self.approver is not None and self.tools.get(chosen.tool).acts(chosen.args):
            declined = self.approver(Action(chosen.thought, chosen.tool, chosen.args, chosen.plan_step))
        started = time.monotonic()  # the tool's own time: a wait for the user's approval is not in it
        if unfinished:
            output, ok = render("feedback", kind="missing_output", detail=", ".join(unfinished)), False
        elif declined is not None:
            output, ok = f"The user did not allow this call: {declined}", False
        else:
            inputs = run.kept_inputs() if self.config.keep_inputs and chosen.tool != FINISH else None
            output, ok = self.tools.call(run.tools, chosen.tool, chosen.args)
            if inputs and (restored := inputs.restore_changed()):
                run.inputs_put_back += 1
                output, ok = output + "\n" + render("feedback", kind="input_restored", detail=", ".join(restored),
                                                     asked=", ".join(inputs.asked)), False
        output = output if len(output) <= MAX_LOGGED_OUTPUT else output[:MAX_LOGGED_OUTPUT] + "\n[... cut ...]"
        return Observation(chosen.step, chosen.tool, output, ok, round(time.monotonic() - started, 3))

    def _after_step(self, run: ActiveRun, chosen: ActionChosen, observation: Observation) -> Iterator[Event]:
        if chosen.tool == FINISH and observation.ok:
            unwritten = run.unwritten_files()
            raise Finished("the model called finish" + (f"; not written: {', '.join(unwritten)}" if unwritten else ""),
                           answer=observation.output)
        if run.inputs_put_back >= INPUTS_PUT_BACK_BEFORE_STOP:
            raise RunFailed(f"kept writing over the goal's inputs ({run.inputs_put_back} times put back)")
        plan = advance_plan(run.state.plan, chosen.plan_step, observation.ok)
        if plan != run.state.plan:
            yield run.emit(PlanUpdated(plan, step=chosen.step))
        key = call_key(chosen.tool, chosen.args)
        run.outcomes[(key, observation.output)] += 1
        if run.outcomes[(key, observation.output)] > 1:
            detail = f"{chosen.tool} {key[len(chosen.tool):][:80]}"
            yield from self._strike(run, chosen.step, f"repeated with the same result: {detail}",
                                    forbid=key, avoid_tool=chosen.tool if observation.ok else None)
        elif not observation.ok:
            run.strategy = run.strategy.after("tool_failed", failed=key)
        else:
            run.strategy = run.strategy.after("ok")

    def _strike(self, run: ActiveRun, step: int, message: str, tokens_in: int = 0, tokens_out: int = 0,
                forbid: str | None = None, avoid_tool: str | None = None) -> Iterator[Event]:
        """A repeat: recorded, and the run fails once repeats outlast the strategy changes."""
        run.loop_strikes += 1
        yield run.emit(ErrorEvent(step, "repeated_action", message, tokens_in, tokens_out))
        if run.loop_strikes > self.config.loop_strikes:
            raise RunFailed("stuck in a loop: the same action kept coming back after a change of strategy")
        run.strategy = run.strategy.after("repeated_action", message, forbid=forbid, avoid_tool=avoid_tool)

    def _finish(self, run: ActiveRun, stop: RunStop) -> Iterator[Event]:
        plan = close_plan(run.state.plan, stop.status)
        if plan != run.state.plan:
            yield run.emit(PlanUpdated(plan, step=run.state.step))
        yield run.emit(RunFinished(run.state.step, stop.status, stop.answer, stop.reason))
        state = run.state
        self.result = RunResult(state.run_id, stop.status, stop.answer, state.step, state.tokens_in,
                                state.tokens_out, round(run.seconds, 2), self.model.name, stop.reason)
        self.store.write_result(state.run_id, self.result.to_json())

    # -- helpers -------------------------------------------------------------------------------------

    def _new_run(self, state: RunState, writer: RunWriter, elapsed_before: float = 0.0) -> ActiveRun:
        tools = ToolContext(self.config.workspace.resolve(), self.sandbox_factory)
        ran = sum(1 for t in state.turns if t.action.tool == PYTHON and t.observation is not None)
        if ran:  # a resumed run: a new sandbox, so a new Python session
            tools.interpreter = InterpreterLog(ran, "the run was resumed")
        return ActiveRun(state, writer, tools, time.monotonic(), elapsed_before)

    def prompt_context(self, state: RunState) -> PromptContext:
        sandbox = self.config.sandbox_config
        python_state = PYTHON in self.tools and sandbox.python_session and sandbox.warm_exec
        return self._prompts.get(self.tools, self.config, state.goal, state.files, python_state)
