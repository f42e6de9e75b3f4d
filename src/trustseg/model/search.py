"""The multi-start search for the best optimum of a mixture, for every outcome family.

A fit runs in three steps (:func:`search`):

1. **Search.**  Every one of the ``n_init`` starts (the split path from one
   segment, random lines, k-means partitions; :mod:`trustseg.model.starts`)
   runs to its optimum (:func:`~trustseg.model.em.converge`) on the search
   sample (all respondents, or a random subsample of ``search_subsample``
   when there are more).  A start that can no longer catch up with the best
   so far is stopped and marked ``"pruned"``.
2. **Escape.**  The best solution, and every start that ended below it, gets
   the family's own escape starts (an ordinal threshold that ran away),
   split-and-merge moves and a top-down move (deterministic, memoised per
   distinct optimum); a move that raises the log-likelihood is taken.
3. **Refine.**  With a search subsample, the ``n_full_runs`` best distinct
   solutions are run to convergence on all respondents (and the best gets
   split-and-merge moves on a sample ten times the search sample).  Given
   starts run on all respondents beside them.

Every start is recorded (:class:`StartRecord`); a start reached the chosen
solution only if it reached the same parameters (up to segment order,
:func:`same_solution`), not merely a close log-likelihood, and the optimum is
*replicated* when starts of both independent seed streams reached it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import linear_sum_assignment

from trustseg.model.admissibility import flaw_codes, segment_flaws
from trustseg.model.em import RunState, converge, from_partition, make_problem
from trustseg.model.escape import EscapeMoves
from trustseg.model.likelihood import SAME_OPTIMUM_RTOL
from trustseg.model.params import MixtureParams
from trustseg.model.starts import RANDOM_STARTS, split_path
from trustseg.progress import Progress

#: the default mix of start kinds, chosen by the benchmark in docs/benchmarks.md: the split path once, then
#: random lines and k-means in turn
DEFAULT_START_KINDS = ("split", "lines", "kmeans")
# Largest difference (in SDs, log sigma or shares) between the parameters of two
# starts that reached the same optimum; distinct local optima differ far more.
SAME_SOLUTION_ATOL = 1e-3
#: with a search subsample, the chosen optimum's escape runs on this many times as many respondents
_ESCAPE_SAMPLE_FACTOR = 10


@dataclass
class SearchSettings:
    """How a search runs: its starts, seed, subsample and moves (the estimator's hyperparameters)."""

    n_segments: int
    n_init: int = 20
    start_kinds: tuple = DEFAULT_START_KINDS
    random_state: object = 0
    search_subsample: int = 10_000
    n_full_runs: int = 2
    escape: bool = True
    given: list = field(default_factory=list)
    #: the solution is the best without a spurious segment (:mod:`trustseg.model.admissibility`); False: the
    #: highest likelihood whatever it is
    admissible_only: bool = True


@dataclass
class StartRecord:
    """Where one start ended: its kind, seed stream, log-likelihood, how it stopped, seconds, and whether
    it was refined on all respondents and reached the chosen solution."""

    kind: str
    stream: int | None
    loglik: float
    stop_reason: str
    seconds: float
    refined: bool
    reached_best: bool = False
    #: whether the start ended at a solution without a spurious segment, and what its segments were if not
    admissible: bool = True
    problems: str = ""


@dataclass
class SearchResult:
    """The chosen solution (a converged :class:`~trustseg.model.em.RunState`) and the record of every start."""

    state: RunState
    starts: list
    best_start: int
    removed: list
    #: each segment's spurious kinds (empty text when admissible); whether the solution is admissible
    problems: list = field(default_factory=list)
    admissible: bool = True
    #: the spurious solutions with a higher likelihood that were set aside: log-likelihood and flaws per segment
    set_aside: list = field(default_factory=list)

    @property
    def params(self) -> MixtureParams:
        return self.state.params

    @property
    def loglik(self) -> float:
        return self.state.loglik

    @property
    def converged(self) -> bool:
        return self.state.converged

    @property
    def n_iter(self) -> int:
        return self.state.n_iter

    @property
    def start_logliks(self) -> np.ndarray:
        return np.array([start.loglik for start in self.starts])

    @property
    def n_best_starts(self) -> int:
        return int(sum(start.reached_best for start in self.starts))

    @property
    def optimum_replicated(self) -> bool:
        """Whether starts of both independent seed streams reached the chosen solution."""
        return {start.stream for start in self.starts if start.reached_best and start.stream is not None} >= {0, 1}


def start_plan(n_init, start_kinds):
    """The kind and seed stream of each of ``n_init`` starts: a split path first (once), the others in turn.

    The random starts alternate between two seed streams (0, 1); the
    deterministic split path has none.
    """
    kinds = tuple(start_kinds)
    cycle = [kind for kind in kinds if kind != "split"] or ["random"]
    plan = [("split", None)] if "split" in kinds and n_init > 0 else []
    offset = len(plan)
    while len(plan) < n_init:
        r = len(plan) - offset
        plan.append((cycle[r % len(cycle)], r % 2))
    return plan


def same_solution(a, b, scale, atol=SAME_SOLUTION_ATOL, posteriors=None) -> bool:
    """Whether two solutions (objects with ``params`` and ``loglik``) are the same up to segment order.

    Log-likelihoods within ``SAME_OPTIMUM_RTOL``, and the best matching of
    segments (Hungarian algorithm) agreeing within ``atol`` in the shares and
    either in every parameter on the common ``scale`` (the family's
    :meth:`~trustseg.model.families.base.Family.solution_scale`: slopes as
    outcome-SD changes per predictor SD, log SDs, thresholds) or, when the
    likelihood is flat in some parameter (an ordinal threshold far beyond
    every answer, a separated slope) so that equal fits differ there, in
    every respondent's posterior probabilities: ``posteriors(params)`` gives
    them (n, K).  Equal log-likelihoods alone do not make two optima the same.
    """
    if len(a.params.weights) != len(b.params.weights):
        return False
    if abs(a.loglik - b.loglik) > SAME_OPTIMUM_RTOL * max(1.0, abs(b.loglik)):
        return False

    def profile(params):
        return np.column_stack([np.column_stack([params.beta, params.extra]) * scale, params.weights])

    pa, pb = profile(a.params), profile(b.params)
    cost = np.abs(pa[:, None, :] - pb[None, :, :]).max(axis=2)
    rows, cols = linear_sum_assignment(cost)
    if cost[rows, cols].max() <= atol:
        return True
    if posteriors is None:
        return False
    ta, tb = posteriors(a.params), posteriors(b.params)
    gap = np.abs(ta[:, :, None] - tb[:, None, :]).max(axis=0)
    gap = np.maximum(gap, np.abs(a.params.weights[:, None] - b.params.weights[None, :]))
    rows, cols = linear_sum_assignment(gap)
    return bool(gap[rows, cols].max() <= atol)


class _Run:
    """One start: its kind, seed stream, the state it reached and where that state was refined."""

    def __init__(self, kind, stream, state, on_all, seconds):
        self.kind, self.stream, self.state, self.seconds = kind, stream, state, seconds
        # the state on all respondents (the search state itself unless the search used a subsample)
        self.final_state = state if on_all else None
        self.loglik = state.loglik
        self.leader = False  # its search state was rerun on all respondents
        self.earlier = []  # removal records from before an escape replaced its state
        self.searched = None  # the state the search reached before an escape moved it

    def moved_to(self, state):
        """This start after an escape move to ``state`` (its earlier removal records kept)."""
        moved = _Run(self.kind, self.stream, state, self.final_state is not None, self.seconds)
        moved.earlier = [r for r in self.removed() if not any(r is s for s in state.removed)]
        moved.searched = self.searched if self.searched is not None else self.state
        return moved

    def removed(self):
        """Degenerate segments this start removed, in the search and (if rerun) on all respondents."""
        records = self.earlier + list(self.state.removed)
        if self.leader:
            records += self.final_state.removed
        return records


class _Search(EscapeMoves):
    """The three steps of :func:`search` on one problem (see the module docstring)."""

    def __init__(self, problem, settings):
        self.problem, self.settings, self.k = problem, settings, int(settings.n_segments)
        self.scale = problem.family.solution_scale(problem.design, problem.y, problem.w)
        self.escaped = []  # memo of (before, after) escapes
        self.failed_repairs = 0  # spurious optima in a row whose repair found nothing admissible
        self._posteriors = {}  # (id of a problem, id of parameters) -> (parameters, posteriors)
        self._flaws = {}  # (id of a problem, id of parameters) -> (parameters, segment flaws)
        self._best_admissible = {}  # id of a problem -> the best admissible log-likelihood on it so far
        self._spurious = []  # the distinct spurious optima with K segments met on all respondents

    def posteriors(self, problem, params):
        """The posteriors of ``params`` on ``problem``'s respondents, computed once per solution."""
        key = (id(problem), id(params))
        if key not in self._posteriors:
            self._posteriors[key] = (params, problem.e_step(params)[0])  # params kept: their id stays theirs
        return self._posteriors[key][1]

    def same(self, a, b, problem):
        """:func:`same_solution` on ``problem``'s respondents (posteriors computed once per solution)."""
        return same_solution(a, b, self.scale, posteriors=lambda params: self.posteriors(problem, params))

    def flaws(self, problem, state):
        """The spurious kinds of each segment of ``state`` on ``problem`` (computed once per solution)."""
        key = (id(problem), id(state.params))
        if key not in self._flaws:
            self._flaws[key] = (state.params, segment_flaws(problem, state.params,
                                                            self.posteriors(problem, state.params)))
        return self._flaws[key][1]

    def admissible(self, problem, state):
        return state.params is not None and not any(self.flaws(problem, state))

    def spurious_segments(self, problem, state):
        return [j for j, flaw in enumerate(self.flaws(problem, state)) if flaw]

    def best_admissible_on(self, problem):
        """The best admissible log-likelihood reached on ``problem`` so far (None before the first)."""
        return self._best_admissible.get(id(problem))

    def note(self, problem, state):
        """Keep the best admissible log-likelihood on ``problem`` (the repairs' pruning target), and every
        distinct spurious optimum reached on all respondents (to say what was set aside)."""
        if (problem is self.problem and state.params is not None and state.converged and state.k == self.k
                and not self.admissible(problem, state)
                and not any(self.same(state, other, problem) for other in self._spurious)):
            self._spurious.append(state)
        if state.params is not None and state.converged and state.k == self.k and self.admissible(problem, state):
            best = self._best_admissible.get(id(problem))
            self._best_admissible[id(problem)] = state.loglik if best is None else max(best, state.loglik)

    def converge(self, problem, state, target=None):
        return converge(problem, state, target, self.settings.escape)

    def run(self) -> SearchResult:
        settings, problem = self.settings, self.problem
        rng = (settings.random_state if isinstance(settings.random_state, np.random.Generator)
               else np.random.default_rng(settings.random_state))
        # one seed per start, then the search sample's and the escape sample's
        seeds = rng.bit_generator.seed_seq.spawn(settings.n_init + 2)
        search = problem
        if problem.n > settings.search_subsample and settings.n_init > 0:
            rows = np.sort(np.random.default_rng(seeds[settings.n_init]).choice(
                problem.n, size=int(settings.search_subsample), replace=False))
            search = problem.subset(rows)
        plan = start_plan(settings.n_init, settings.start_kinds)
        runs = self._search(search, seeds, plan)
        if plan and settings.admissible_only and not any(self.admissible(search, run.state) and run.state.k == self.k
                                                for run in runs):
            runs += self._more_starts(search, rng, plan)
        self._refine_on_all(runs, seeds[settings.n_init + 1])
        runs += self._given_runs(runs)
        return self._choose(runs)

    def _more_starts(self, search, rng, plan):
        """When every start ended at a spurious solution: as many starts again (the random kinds, on new seeds)."""
        random_plan = [(kind, stream) for kind, stream in plan if kind != "split"] or [("random", 0)]
        seeds = [None] * len(plan) + list(rng.bit_generator.seed_seq.spawn(len(random_plan)))
        return self._search(search, seeds, random_plan, first=len(plan))

    # -- step 1: the starts ------------------------------------------------------

    def _start_state(self, search, kind, seed, start, stage):
        """The converged state of one start (a ``failed`` state when its parts cannot be fitted)."""
        try:
            if kind == "split":
                return split_path(search, self.k, lambda s, t: self.converge(search, s, t), start, stage)[-1]
            labels = RANDOM_STARTS[kind](search, self.k, np.random.default_rng(seed))
            return from_partition(search, labels, self.k, start, stage)
        except (ValueError, np.linalg.LinAlgError):
            return None

    def _search(self, search, seeds, plan, first=0):
        """The starts of ``plan`` run to their optima on the search sample, then the escape moves.

        A start is pruned once it cannot catch up with the best solution so
        far; with ``admissible_only`` the best admissible one, so that a
        spurious optimum of a higher likelihood prunes nothing.
        """
        settings, k = self.settings, self.k
        stage = "full" if search is self.problem else "search"
        runs, best = [], None
        progress = Progress(len(plan), f"K={k}: EM from {len(plan)} starts")
        for i, (kind, stream) in enumerate(plan):
            start = first + i
            started = time.perf_counter()
            state = self._start_state(search, kind, seeds[start], start, stage)
            if state is None:
                state = RunState(None, start, stage)
                state.stop_reason, state.loglik = "failed", np.nan
            elif kind != "split":
                target = self.best_admissible_on(search) if settings.admissible_only else best
                state = self.converge(search, state, target=target)
            if state.params is not None and state.converged and state.k == k:
                best = state.loglik if best is None else max(best, state.loglik)
                self.note(search, state)
            runs.append(_Run(kind, stream, state, search is self.problem, time.perf_counter() - started))
            progress.update(i + 1)
        if settings.escape:
            self._escape_all(search, runs, stage)
        return runs

    # -- step 3: refine, given starts, choose ------------------------------------------

    def _refine_on_all(self, runs, escape_seed):
        """With a search subsample: the best distinct solutions rerun on all respondents.

        Each run's search solution is scored on all respondents; the
        ``n_full_runs`` best distinct solutions are run to convergence on all
        of them, and every run whose search solution is one of those shares
        its full-data optimum.  A higher optimum of the search sample that an
        escape move found can refine to a smaller or unfinished solution on
        everyone (a small segment the subsample overfits): such a leader's
        run then also refines the optimum it held before the escape, and
        keeps the better.
        """
        problem = self.problem
        if not runs or all(run.final_state is not None for run in runs):
            return
        for run in runs:
            run.loglik = problem.loglik(run.state.params) if run.state.params is not None else np.nan
        fitted = [r for r, run in enumerate(runs) if run.state.params is not None]
        scored = {r: _Scored(runs[r].state.params, runs[r].loglik) for r in fitted}
        rule = self.settings.admissible_only
        order = sorted(fitted, key=lambda r: (-runs[r].state.k, rule and not self.admissible(problem, scored[r]),
                                              -runs[r].loglik, r))
        leaders, best = [], None
        for r in order:
            if len(leaders) == self.settings.n_full_runs:
                break
            if any(self.same(scored[r], scored[lead], problem) for lead in leaders):
                continue
            leaders.append(r)
            refined = self._refine(runs[r], r, best)
            runs[r].final_state, runs[r].leader = refined, True
            if refined.converged:
                best = refined.loglik if best is None else max(best, refined.loglik)
        for r, run in enumerate(runs):
            for lead in leaders:
                if r == lead or (r in scored and self.same(scored[r], scored[lead], problem)):
                    run.final_state = runs[lead].final_state
                    run.loglik = run.final_state.loglik
                    break
        if self.settings.escape and leaders:
            self._escape_on_larger_sample(runs, leaders, escape_seed)

    def _refine(self, run, r, target):
        """A run's search solution converged on all respondents (or the one before its escape, if better)."""
        problem = self.problem
        refined = self.converge(problem, RunState(run.state.params, r, "full"), target=target)
        refined.moves = run.state.moves
        earlier = run.searched
        if (refined.k == self.k and refined.converged) or earlier is None or not earlier.converged:
            return refined
        before = self.converge(problem, RunState(earlier.params, r, "full"), target=target)
        return before if (before.k, before.converged, before.loglik) > (refined.k, refined.converged,
                                                                      refined.loglik) else refined

    def _escape_on_larger_sample(self, runs, leaders, escape_seed):
        """Split-and-merge moves for the best refined solution, on ten times the search sample.

        A search optimum can lie in the basin of a full-data local optimum
        when optima are close (heavily overlapping segments): all starts then
        agree on it.  Moves on a larger sample (all respondents up to that
        size) find the better one; the top-down moves would cost K + 1 such
        fits.
        """
        problem = self.problem
        rule = self.settings.admissible_only
        top = max(leaders, key=lambda r: (runs[r].final_state.k,
                                          not rule or self.admissible(problem, runs[r].final_state),
                                          runs[r].final_state.loglik))
        reached = runs[top].final_state
        if not reached.converged:
            return
        size = _ESCAPE_SAMPLE_FACTOR * int(self.settings.search_subsample)
        if problem.n <= size:
            escaped = self._escape(problem, reached, None, moves=("family", "split_merge"))
        else:
            rows = np.sort(np.random.default_rng(escape_seed).choice(problem.n, size=size, replace=False))
            sample = problem.subset(rows)
            on_sample = self.converge(sample, RunState(reached.params, top, "escape"))
            moved = self._escape(sample, on_sample, None, moves=("family", "split_merge"))
            escaped = reached
            if moved is not on_sample:
                candidate = self.converge(problem, RunState(moved.params, top, "full").copy_history(reached),
                                          target=reached.loglik)
                if self._better(problem, candidate, reached):
                    escaped = candidate
        if escaped is not reached:
            for run in runs:
                if run.final_state is reached:
                    run.final_state, run.loglik = escaped, escaped.loglik

    def _given_runs(self, runs):
        """Every given start run to convergence on all respondents, then offered the family's own escape starts.

        Given starts are warm starts (a refit's full-sample solution): the
        split-and-merge and top-down moves are the fresh starts' business.
        """
        out = []
        best = max((run.loglik for run in runs if run.final_state is not None and run.final_state.converged),
                   default=None)
        for i, params in enumerate(self.settings.given):
            started = time.perf_counter()
            start = params if self.problem.bounds is None else self.problem.bounds.clamp(params)
            state = self.converge(self.problem, RunState(start, len(runs) + i, "full"), target=best)
            if self.settings.escape and state.converged and state.k == self.k:
                state = self._escape(self.problem, state, None, moves=("family",))
            out.append(_Run("given", None, state, True, time.perf_counter() - started))
        return out

    def _choose(self, runs) -> SearchResult:
        """The solution: most segments kept, then (with ``admissible_only``) no spurious segment, then the
        highest log-likelihood, then the first start; every start recorded, and the spurious solutions of a
        higher likelihood set aside."""
        problem = self.problem
        finished = [r for r, run in enumerate(runs) if run.final_state is not None
                    and run.final_state.params is not None]
        if not finished:
            raise ValueError(f"no start of the {problem.family.name} mixture with {self.k} segments could "
                             "be fitted")
        ok = {r: self.admissible(problem, runs[r].final_state) for r in finished}
        rule = self.settings.admissible_only
        best = min(finished, key=lambda r: (-runs[r].final_state.k, rule and not ok[r], -runs[r].loglik, r))
        chosen = runs[best].final_state
        records = []
        for r, run in enumerate(runs):
            final = run.final_state
            done = final is not None and final.params is not None
            hit = done and self.same(final, chosen, problem)
            problems = "" if not done or ok[r] else _problem_text(self.flaws(problem, final))
            records.append(StartRecord(run.kind, run.stream, float(run.loglik), (final or run.state).stop_reason,
                                       run.seconds, done, bool(hit), bool(done and ok[r]), problems))
        return SearchResult(chosen, records, int(best), _removal_records(runs, chosen),
                            flaw_codes(self.flaws(problem, chosen)), bool(ok[best]),
                            self._set_aside(runs, finished, ok, chosen))

    def _set_aside(self, runs, finished, ok, chosen):
        """The distinct spurious solutions with K segments and a higher likelihood than the chosen one (where
        starts ended, or met on the way and left by the search for an admissible one)."""
        met = [runs[r].final_state for r in finished if not ok[r]] + self._spurious
        out = []
        for state in sorted(met, key=lambda state: -state.loglik):
            if state.k != chosen.k or state.loglik <= chosen.loglik or self.admissible(self.problem, state):
                continue
            if any(self.same(state, other, self.problem) for other, _ in out):
                continue
            out.append((state, self.flaws(self.problem, state)))
        return [{"loglik": float(state.loglik), "weights": state.params.weights.tolist(), "flaws": flaws}
                for state, flaws in out]


def _problem_text(flaws):
    """A spurious solution's kinds per segment, e.g. ``2: variance_floor; 3: one_answer``."""
    return "; ".join(f"{j + 1}: {codes}" for j, codes in enumerate(flaw_codes(flaws)) if codes)


def _removal_records(runs, chosen):
    """Every degenerate segment removed on the way, once (starts that share a memoised escape share its
    records), marking those in the history of the chosen solution."""
    removed = {}
    for run in runs:
        for record in run.removed():
            in_final = removed.get(id(record), (record, False))[1] or run.final_state is chosen
            removed[id(record)] = (record, in_final)
    return [{**record, "in_final": bool(final)} for record, final in removed.values()]


class _Scored:
    """A search solution with its full-data log-likelihood, for :func:`same_solution`."""

    def __init__(self, params, loglik):
        self.params, self.loglik = params, loglik


def search(problem, settings: SearchSettings) -> SearchResult:
    """The best optimum of a K-segment mixture over every start and escape move (see the module docstring)."""
    if settings.n_init + len(settings.given) < 1:
        raise ValueError("n_init is 0 and no start is given: there is nothing to fit from")
    return _Search(problem, settings).run()


def fit_mixture(family, X, y, k, w=None, data=None, *, n_init=10, random_state=None, variance_floor=None,
                min_share=1e-3, tol=1e-8, max_iter=1000, given=(), **settings) -> SearchResult:
    """The search for a K-segment mixture of ``family`` on predictors ``X`` without an estimator around it.

    ``given`` are further starts (:class:`~trustseg.model.params.MixtureParams`);
    ``settings`` the other fields of :class:`SearchSettings` (``start_kinds``,
    ``escape``, ``search_subsample``, ``n_full_runs``).  For an equation
    system ``X`` is its block design.
    """
    problem = make_problem(family, X, y, w, data, variance_floor, min_share, tol, max_iter)
    return search(problem, SearchSettings(int(k), int(n_init), random_state=random_state, given=list(given),
                                          **settings))
