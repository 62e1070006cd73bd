"""One frozen dataclass of options, validated once."""
from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass, field
from typing import Any, Mapping

from .errors import ConfigError

#: Operators the engines may use, in engine-neutral names (the keys of ``lowering.SEARCH_OPS``).
DEFAULT_OPERATORS: tuple[str, ...] = ("add", "sub", "mul", "div", "sin", "cos", "exp", "log", "sqrt", "tanh", "square")


@dataclass(frozen=True)
class Config:
    """Options of :func:`symfx.compile` (and the ``symfx`` torch.compile backend).

    Every field has a sensible default; pass only what you want to change.
    """

    engine: str = "operon"
    """Symbolic-regression engine: ``"operon"`` (embedded, default) or ``"pysr"`` (needs Julia)."""
    tolerance: float = 1e-2
    """Accept an equation only if its normalized RMSE vs. the network on held-out rows is below this."""
    model_tolerance: float | None = None
    """Whole-model output tolerance (normalized RMSE) for validation; defaults to ``tolerance``."""
    max_inputs: int = 8
    """A row region with more input features than this falls back to its elementwise parts."""
    max_samples: int = 4096
    """Rows kept per region (reservoir sampling over the calibration stream)."""
    holdout: float = 0.25
    """Fraction of recorded rows held out to judge equations."""
    min_samples: int = 64
    """A region with fewer usable rows than this is skipped."""
    time_budget: float = 20.0
    """Seconds of search per output feature."""
    max_complexity: int = 30
    """Largest expression (node count) the engine may build."""
    operators: tuple[str, ...] = DEFAULT_OPERATORS
    seed: int = 0
    n_threads: int = 0
    """Engine threads; 0 means all cores."""
    include: tuple[str, ...] = ()
    """fnmatch patterns of module paths that may be replaced (empty: all)."""
    exclude: tuple[str, ...] = ()
    """fnmatch patterns of module paths that must stay neural."""
    min_region_nodes: int = 2
    """Skip regions smaller than this (replacing one activation with itself gains nothing)."""
    pca_in: int | None = None
    """Project a region's inputs onto this many principal components before fitting."""
    pca_out: int | None = None
    """Fit only this many principal components of a region's outputs, then expand back."""
    selection: str = "knee"
    """How each output's equation is picked from its Pareto front: ``"knee"`` (for laws learned
    by an imperfect network: the steepest drop in error per added node among members within 3x
    of the best error or within 5 %, whatever ``tolerance`` is; see ``passes.fit.select``),
    ``"simplest"`` within ``tolerance``, or
    ``"accurate"``: the most accurate member (for approximate surrogates, e.g. PCA-projected
    transformer MLPs). The chosen law is always reported; it replaces the region only when the
    region as a whole is within ``tolerance``."""
    network_error: float | None = None
    """How far the network is from the law it learned, as a normalized RMSE (its validation error
    on noise-free data, e.g. 0.009), when known. The ``"knee"`` rule then counts held-out errors
    below ``0.8 x network_error`` as equal: an equation closer to the network than that fits the
    network's own error, not the law (``passes.fit.select``). On noisy data the validation error
    overstates it, and the rule then leans to shorter equations. It applies to every region (it is
    meant for a network distilled as one region, as in discovery). ``None``: not known (no floor)."""
    variable_names: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """Readable variable names per region name, e.g. ``{"edge_mlp": ("dx", "dy", "m")}``."""
    validate: bool = True
    """Run the whole model with and without each rewrite and undo those that break ``model_tolerance``."""
    domain_margin: float = 0.1
    """Equations must be finite on the recorded input range widened by this fraction on each side."""
    cache_dir: str | None = None
    """Where fitted equations are cached; default ``$SYMFX_CACHE_DIR`` or ``~/.cache/symfx``. ``""`` disables."""
    progress: bool = True
    """Show progress bars (tqdm) during recording and fitting."""
    engine_options: Mapping[str, Any] = field(default_factory=dict)
    """Engine-specific settings passed through to the adapter untouched."""

    def __post_init__(self) -> None:
        # normalise sequence fields so that Config is hashable and comparable
        for name in ("operators", "include", "exclude"):
            value = getattr(self, name)
            if isinstance(value, str):
                value = (value,)
            object.__setattr__(self, name, tuple(value))
        object.__setattr__(
            self, "variable_names", {str(k): tuple(v) for k, v in dict(self.variable_names).items()}
        )
        object.__setattr__(self, "engine_options", dict(self.engine_options))
        self._check()

    def _check(self) -> None:
        def bad(msg: str) -> ConfigError:
            return ConfigError(f"symfx.Config: {msg}")

        from .engines import ENGINES  # the registry; adapters themselves are imported on use
        from .lowering import SEARCH_OPS  # the one operator table (imports torch: not at `import symfx`)

        if self.engine not in ENGINES:
            raise bad(f"engine={self.engine!r} is not known; use one of {sorted(ENGINES)} ('operon' is embedded).")
        if self.selection not in ("knee", "simplest", "accurate"):
            raise bad(f"selection={self.selection!r} is not known; use 'knee', 'simplest' or 'accurate'.")
        if not (self.tolerance > 0 and math.isfinite(self.tolerance)):
            raise bad(f"tolerance must be a positive number, got {self.tolerance!r}.")
        if self.model_tolerance is not None and not self.model_tolerance > 0:
            raise bad(f"model_tolerance must be positive or None, got {self.model_tolerance!r}.")
        for name in ("max_inputs", "max_samples", "min_samples", "max_complexity", "min_region_nodes"):
            if int(getattr(self, name)) < 1:
                raise bad(f"{name} must be >= 1, got {getattr(self, name)!r}.")
        if self.min_samples > self.max_samples:
            raise bad(f"min_samples ({self.min_samples}) exceeds max_samples ({self.max_samples}).")
        if not 0.0 < self.holdout < 0.9:
            raise bad(f"holdout must lie in (0, 0.9), got {self.holdout!r}.")
        if not self.time_budget > 0:
            raise bad(f"time_budget must be positive (seconds per output), got {self.time_budget!r}.")
        unknown = set(self.operators) - set(SEARCH_OPS)
        if unknown:
            raise bad(f"unknown operators {sorted(unknown)}; known: {sorted(SEARCH_OPS)}.")
        for name in ("pca_in", "pca_out"):
            value = getattr(self, name)
            if value is not None and int(value) < 1:
                raise bad(f"{name} must be a positive integer or None, got {value!r}.")
        if self.n_threads < 0:
            raise bad(f"n_threads must be >= 0, got {self.n_threads!r}.")
        if self.network_error is not None and not 0.0 <= self.network_error < 1.0:
            raise bad(f"network_error must lie in [0, 1) (a normalized RMSE, e.g. 0.009) or be None, "
                      f"got {self.network_error!r}.")
        if self.domain_margin < 0:
            raise bad(f"domain_margin must be >= 0, got {self.domain_margin!r}.")

    def key_fields(self, scope: str) -> dict[str, Any]:
        """The options that decide a cached result, by the one rule of :data:`DECIDES`.

        ``scope="engine"``: what an engine returns for given rows (the fit cache);
        ``scope="pipeline"``: which regions and equations the whole pipeline keeps (the compile
        cache), which includes the engine's options. Values are JSON-able (tuples as lists).
        """
        wanted = {"engine": ("engine",), "pipeline": ("engine", "pipeline")}[scope]
        return {name: _jsonable(self.threads if name == "n_threads" else getattr(self, name))
                for name, decides in DECIDES.items() if decides in wanted}

    @property
    def threads(self) -> int:
        return self.n_threads or (os.cpu_count() or 1)

    @property
    def effective_model_tolerance(self) -> float:
        return self.model_tolerance if self.model_tolerance is not None else self.tolerance

    @property
    def resolved_cache_dir(self) -> str | None:
        if self.cache_dir == "":
            return None
        if self.cache_dir is not None:
            return self.cache_dir
        env = os.environ.get("SYMFX_CACHE_DIR")
        if env is not None:
            return env or None
        return os.path.join(os.path.expanduser("~"), ".cache", "symfx")

    def replace(self, **changes: Any) -> "Config":
        return make_config(self, **changes)


#: What each option decides, the one rule for which options enter a cache key (Config.key_fields):
#: "engine" changes what an engine returns for given rows; "pipeline" changes which regions,
#: samples and equations the passes keep; None changes neither (where caches live, progress bars).
DECIDES: dict[str, str | None] = {
    "engine": "engine", "tolerance": "engine", "time_budget": "engine", "max_complexity": "engine",
    "operators": "engine", "seed": "engine", "engine_options": "engine",
    # threads change how far a time-capped search gets (the resolved count enters the key)
    "n_threads": "engine",
    "model_tolerance": "pipeline", "max_inputs": "pipeline", "max_samples": "pipeline", "holdout": "pipeline",
    "min_samples": "pipeline", "include": "pipeline", "exclude": "pipeline", "min_region_nodes": "pipeline",
    "pca_in": "pipeline", "pca_out": "pipeline", "selection": "pipeline", "network_error": "pipeline", "variable_names": "pipeline",
    "validate": "pipeline", "domain_margin": "pipeline",
    "cache_dir": None, "progress": None,
}
assert set(DECIDES) == {f.name for f in dataclasses.fields(Config)}, "every Config field needs a DECIDES entry"


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in sorted(value.items())}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def make_config(config: Config | None = None, **options: Any) -> Config:
    """Build a Config from an optional base and keyword options; unknown names are errors."""
    names = {f.name for f in dataclasses.fields(Config)}
    unknown = sorted(set(options) - names)
    if unknown:
        import difflib

        hints = []
        for name in unknown:
            close = difflib.get_close_matches(name, names, n=1)
            hints.append(f"{name!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
        raise ConfigError(
            f"unknown option(s) {', '.join(hints)}; see help(symfx.Config) for the options."
        )
    base = config if config is not None else Config()
    return dataclasses.replace(base, **options) if options else base
