"""The moves that take a converged start out of a local optimum, for every outcome family.

After the starts of :mod:`trustseg.model.search` have run, every local optimum
is offered moves, each a new start that runs to its own optimum and replaces
the old one only when it is better:

* the family's own escape starts (an ordinal threshold that ran away);
* split-and-merge moves (Ueda et al. 2000): merge the two segments whose
  posteriors overlap most and split one segment along its line;
* a top-down move: the best split to K + 1 segments, run to a rough optimum,
  then every pair of its segments merged back to K (the K + 1 optimum is a
  natural start for K, as K - 1 is for K + 1);
* repairs of a spurious solution (:mod:`trustseg.model.admissibility`): its
  spurious segments dissolved into the others and admissible segments split
  to keep K.

"Better" respects admissibility: a spurious candidate never replaces an
admissible solution, and an admissible one replaces a spurious solution even
with a lower likelihood.  Moves are deterministic and memoised per distinct
optimum, so equal optima always move to the same solution and the cost is
paid once per distinct local optimum.
"""

from __future__ import annotations

from trustseg.model.em import RunState, from_partition, run_em
from trustseg.model.likelihood import SAME_OPTIMUM_RTOL, reached_optimum
from trustseg.model.params import MixtureParams
from trustseg.model.starts import escape_moves, merge_candidates, repair_moves, split_candidates

# Split-and-merge escape from a local optimum: rounds, and moves tried per round.
_ESCAPE_ROUNDS = 2
_ESCAPE_MOVES = 4
# The K + 1 fits of the top-down move: relative tolerance and iteration cap (they only seed merges).
_ROUGH_TOL, _ROUGH_MAX_ITER = 1e-5, 200
#: the kinds of escape move (see ``EscapeMoves._moves``)
ALL_MOVES = ("repair", "family", "split_merge", "top_down")
# Distinct spurious optima whose repair found nothing admissible before a search stops repairing: on coarse
# data where every solution at K is spurious, each repair runs to a full optimum (no admissible target to prune
# against) and K = 4 took minutes; three failures in a row say K has no admissible solution within reach.
SPURIOUS_REPAIR_BUDGET = 3


class EscapeMoves:
    """The escape moves of a search (a mixin of :class:`trustseg.model.search._Search`, which provides
    ``k``, ``settings``, ``escaped``, ``converge``, ``same``, ``admissible``, ``spurious_segments``,
    ``best_admissible_on`` and ``note``)."""

    def _regrow(self, problem, state, stage):
        """A state that lost a degenerate segment, with one of the others split until it has K again.

        Every split runs to a rough optimum and only the best of them to its
        optimum: they only choose which segment to split, as the top-down
        move's K + 1 fits only seed merges (full runs of every split took 43%
        of a five-segment chain's fit).
        """
        while state.k < self.k:
            grown = [run_em(problem, from_partition(problem, labels, state.k + 1, state.start, stage),
                            tol=_ROUGH_TOL, max_iter=min(_ROUGH_MAX_ITER, problem.max_iter))
                     for labels in split_candidates(problem, state)]
            grown = [c for c in grown if c.k == state.k + 1]
            if not grown:
                return None
            best = self.converge(problem, max(grown, key=lambda c: c.loglik))
            if best.k != state.k + 1:
                return None
            state = best.copy_history(state)
        return state

    def _moves(self, problem, state, moves):
        """The candidates of :meth:`_escape`, of the kinds ``moves`` in the order of :data:`ALL_MOVES` (lazily).

        One segment has none: every merge of a split gives it back.
        """
        if state.k < 2:
            return
        if "repair" in moves:
            spurious = self.spurious_segments(problem, state)
            yield from repair_moves(problem, state, spurious, _ESCAPE_MOVES)
        if "family" in moves:
            yield from problem.family.escape_starts(state.params)
        if "split_merge" in moves:
            yield from escape_moves(problem, state, _ESCAPE_MOVES)
        if "top_down" not in moves or state.k + 1 > problem.n // problem.min_respondents:
            return
        # the K + 1 fits only seed merges, so a rough optimum is enough; each runs to it (a split pruned
        # against the best so far was measured to lose the best seed: rough optima are not ordered early)
        grown = [run_em(problem, from_partition(problem, labels, state.k + 1, state.start, state.stage),
                        tol=_ROUGH_TOL, max_iter=_ROUGH_MAX_ITER)
                 for labels in split_candidates(problem, state)]
        grown = [c for c in grown if c.k == state.k + 1]
        if grown:
            yield from merge_candidates(problem, max(grown, key=lambda c: c.loglik), _ESCAPE_MOVES)

    def _candidate(self, problem, move, state):
        """The run state of one move: a partition refitted, or a family's escape parameters."""
        if isinstance(move, MixtureParams):
            candidate = RunState(move if problem.bounds is None else problem.bounds.clamp(move), state.start,
                                 state.stage)
        else:
            candidate = from_partition(problem, move, self.k, state.start, state.stage)
        return candidate.copy_history(state)

    def _better(self, problem, candidate, state):
        """Whether ``candidate`` replaces ``state``: higher, and admissible whenever ``state`` is; or admissible
        where ``state`` is not."""
        if not (candidate.converged and candidate.k == self.k):
            return False
        higher = candidate.loglik > state.loglik + SAME_OPTIMUM_RTOL * abs(state.loglik)
        if not self.settings.admissible_only:
            return higher
        if not self.admissible(problem, candidate):
            self.note(problem, candidate)  # a spurious optimum: remembered as set aside
            return higher and not self.admissible(problem, state)
        return higher or not self.admissible(problem, state)

    def _escape(self, problem, state, target, moves=ALL_MOVES):
        """Moves that take a start out of a local optimum; the state is returned unchanged if none helps.

        Each candidate runs to convergence but is pruned once it cannot reach
        ``target`` (at least the state's own log-likelihood; a repair of a
        spurious state only needs to beat the best admissible solution so
        far); the first that is better (:meth:`_better`) is taken and the
        moves start again from it.  Moves are deterministic, so the workflow
        stays reproducible and equal local optima get equal escapes (see
        :meth:`_escape_once`).
        """
        if state.k < self.k and "split_merge" in moves:
            regrown = self._regrow(problem, state, state.stage)
            if regrown is None:
                return state
            state = regrown
        for _ in range(_ESCAPE_ROUNDS):
            better = None
            spurious = self.settings.admissible_only and not self.admissible(problem, state)
            if spurious and self.failed_repairs >= SPURIOUS_REPAIR_BUDGET:
                return state
            # a spurious state gets the repairs and the family's moves: split-and-merge only looks for a
            # higher likelihood, which on these data is more of the same
            kinds = (tuple(m for m in moves if m in ("repair", "family")) if spurious
                     else tuple(m for m in moves if m != "repair"))
            for move in self._moves(problem, state, kinds):
                try:
                    candidate = self._candidate(problem, move, state)
                except (ValueError, ArithmeticError):
                    continue
                goal = self.best_admissible_on(problem) if spurious else (state.loglik if target is None
                                                              else max(target, state.loglik))
                candidate = self.converge(problem, candidate, target=goal)
                if self._better(problem, candidate, state):
                    better = candidate
                    break
            if better is None:
                self.failed_repairs += spurious
                return state
            if spurious and self.admissible(problem, better):
                self.failed_repairs = 0
            state = better
        return state

    def _escape_once(self, problem, state, target):
        """:meth:`_escape`, memoised over equal solutions."""
        if state.converged:
            for before, after in self.escaped:
                if before.k == state.k and self.same(before, state, problem):
                    return after
        after = self._escape(problem, state, target)
        if state.converged:
            self.escaped.append((state, after))
        return after

    def _escape_all(self, problem, runs, stage):
        """Escape moves for the best solution first, then for every start that ended below it (every start
        when the best is spurious)."""
        k = self.k
        full = [r for r, run in enumerate(runs) if run.state.params is not None and run.state.k == k
                and run.state.converged]
        best = None
        if full:
            leader = max(full, key=lambda r: (runs[r].state.loglik, -r))
            improved = self._escape_once(problem, runs[leader].state, None)
            if improved is not runs[leader].state:
                runs[leader] = runs[leader].moved_to(improved)
            best = improved.loglik
            self.note(problem, improved)
        for r, run in enumerate(runs):
            if run.state.params is None:
                continue
            at_best = best is not None and reached_optimum([run.state.loglik], best)[0] and run.state.k == k
            if at_best and (not self.settings.admissible_only or self.admissible(problem, run.state)):
                continue
            moved = run.state
            if moved.stop_reason == "pruned":
                # on to its own optimum, so that starts in the same basin share one escape
                moved = self.converge(problem, moved)
            moved = self._escape_once(problem, moved, best)
            if moved is not run.state:
                runs[r] = run.moved_to(moved)
                if moved.converged and moved.k == k:
                    best = moved.loglik if best is None else max(best, moved.loglik)
                    self.note(problem, moved)
