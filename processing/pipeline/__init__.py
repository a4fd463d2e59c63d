"""Provenance DAG, product cache and execution engine of the coded-mask pipeline.

Write an analysis step as an :class:`AnalysisUnit` (name, version, declared ``params`` and
``inputs``, a ``codec``), build a :class:`Graph` of configured units bound to their inputs,
and :meth:`Pipeline.run` it: every node is identified by its :class:`ProvenanceHash`, found
in the :class:`ProductCache` or computed on an :class:`Executor` (inline or Dask). See
``docs/pipeline.md`` for a walk-through.
"""

from processing.pipeline._cache import CacheEntry, CacheStats, EvictionReport, ProductCache
from processing.pipeline._codecs import Codec, get_codec, register_codec
from processing.pipeline._dask import EXECUTORS, DaskExecutor, create_executor, register_executor
from processing.pipeline._errors import (
    CacheError,
    CorruptEntryError,
    NormalisationError,
    ParameterError,
    PipelineCancelled,
    PipelineError,
    RegistryError,
    UnitFailed,
)
from processing.pipeline._executor import (
    CancelToken,
    Executor,
    InlineExecutor,
    NodeTask,
    Progress,
    one_blas_thread,
    run_node_task,
)
from processing.pipeline._graph import Graph, Node, ancestors_of, make_node
from processing.pipeline._hashing import (
    HASH_ALGORITHM,
    ProvenanceHash,
    canonical_json,
    check_hash,
    hash_canonical,
)
from processing.pipeline._headers import (
    PROVENANCE_INFO_NAME,
    fits_provenance_cards,
    votable_provenance_infos,
    write_fits,
)
from processing.pipeline._params import (
    REQUIRED,
    Bool,
    Float,
    Int,
    List,
    Param,
    Quantity,
    SkyPosition,
    Str,
    TimeParam,
)
from processing.pipeline._pipeline import ExecutionPlan, Pipeline, RunResult
from processing.pipeline._prov import (
    DEFAULT_BASE_URI,
    prov_json,
    prov_xml,
    provenance_document,
    software_version,
)
from processing.pipeline._schema import VERSION_TABLE, upgrade_cache_schema
from processing.pipeline._store import CacheStore, EntryInfo, VerifyLevel
from processing.pipeline._unit import (
    AnalysisUnit,
    Calibration,
    ExternalFile,
    FileInput,
    Input,
    NodeInput,
    UnitContext,
    declare,
    file_checksum,
    get_unit,
    registered_units,
)

__all__ = [
    "DEFAULT_BASE_URI",
    "EXECUTORS",
    "HASH_ALGORITHM",
    "PROVENANCE_INFO_NAME",
    "REQUIRED",
    "VERSION_TABLE",
    "AnalysisUnit",
    "Bool",
    "CacheEntry",
    "CacheError",
    "CacheStats",
    "CacheStore",
    "Calibration",
    "CancelToken",
    "Codec",
    "CorruptEntryError",
    "DaskExecutor",
    "EntryInfo",
    "EvictionReport",
    "ExecutionPlan",
    "Executor",
    "ExternalFile",
    "FileInput",
    "Float",
    "Graph",
    "InlineExecutor",
    "Input",
    "Int",
    "List",
    "Node",
    "NodeInput",
    "NodeTask",
    "NormalisationError",
    "Param",
    "ParameterError",
    "Pipeline",
    "PipelineCancelled",
    "PipelineError",
    "ProductCache",
    "Progress",
    "ProvenanceHash",
    "Quantity",
    "RegistryError",
    "RunResult",
    "SkyPosition",
    "Str",
    "TimeParam",
    "UnitContext",
    "UnitFailed",
    "VerifyLevel",
    "ancestors_of",
    "canonical_json",
    "check_hash",
    "create_executor",
    "declare",
    "file_checksum",
    "fits_provenance_cards",
    "get_codec",
    "get_unit",
    "hash_canonical",
    "make_node",
    "one_blas_thread",
    "prov_json",
    "prov_xml",
    "provenance_document",
    "register_codec",
    "register_executor",
    "registered_units",
    "run_node_task",
    "software_version",
    "upgrade_cache_schema",
    "votable_provenance_infos",
    "write_fits",
]
