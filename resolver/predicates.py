"""Every predicate of the facts with its arity (resolver/facts.py says what each means): what
the solver's loader reads and a recorded text is checked against. A module of its own so that
the early solve's child process (``resolver.solve.EarlySolve``) loads clingo and the solver
only, none of the modules that make facts."""

PREDICATES = {
    "constraint": 1,
    "fork_strategy_fewest": 0,
    "class": 3,
    "forks": 2,
    "solo": 3,
    "partition": 2,
    "nested": 4,
    "avail": 3,
    "avail_all": 2,
    "only": 2,
    "direct": 1,
    "upgrade": 1,
    "locked": 3,
    "uninstallable": 4,
    "required_fail": 3,
    "outside": 2,
    "avail_outside": 3,
    "next_version": 3,
    "pref": 3,
    "dep": 3,
    "bundle": 3,
    "bundled": 3,
    "span": 3,
    "span_in": 2,
    "bundle_span": 3,
    "req_pkg": 2,
    "req_extra": 2,
    "req_on": 2,
    "req_all": 1,
    "req_extra_on": 3,
    "req_fails": 3,
}
