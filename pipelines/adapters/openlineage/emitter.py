"""OpenLineage run events of asset runs, sent with openlineage-python's client as it is configured.

The client configures itself the standard way (`OPENLINEAGE_URL`, `openlineage.yml`, `OPENLINEAGE_CONFIG`,
`OPENLINEAGE__TRANSPORT__*`, `OPENLINEAGE_DISABLED`); meshlake adds no setting of its own. Without any
configuration the client would print events on the console: meshlake then sends nothing. Sending never
fails a run: a failure is logged as a warning.
"""

from __future__ import annotations

import importlib.util
import logging
import traceback
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

from pipelines.adapters.openlineage.datasets import DatasetRef, JobRef, dataset_name

_log = logging.getLogger(__name__)
PRODUCER = "https://github.com/meshlake/meshlake"
"""The `producer` of every event and facet: the code that made it."""


class LineageEmitter:
    """Sends START, COMPLETE and FAIL events of asset runs to the configured OpenLineage transport."""

    def __init__(self, client: Any) -> None:
        self._client = client

    @classmethod
    def configured(cls) -> LineageEmitter | None:
        """The emitter, or None when OpenLineage is not configured, is disabled or openlineage-python is missing."""
        if importlib.util.find_spec("openlineage") is None:
            return None
        try:
            from openlineage.client import OpenLineageClient

            client = OpenLineageClient()
            chosen = (client.config.transport or {}).get("type")
            if client.transport.kind == "noop" or (client.transport.kind == "console" and not chosen):
                return None  # disabled, or the client's fallback when nothing is configured
        except Exception as exc:  # a broken openlineage.yml must not fail the run either
            _log.warning("OpenLineage is not configured properly, no lineage is sent: %s", exc)
            return None
        return cls(client)

    def emit(
        self,
        state: str,
        run_id: str,
        job: JobRef,
        inputs: list[DatasetRef],
        outputs: list[DatasetRef],
        error: BaseException | None = None,
    ) -> None:
        """Send one run event (`START`, `COMPLETE` or `FAIL`); a failure to build or send it is logged, not raised."""
        try:
            self._client.emit(_run_event(state, run_id, job, inputs, outputs, error))
        except Exception as exc:
            _log.warning("OpenLineage %s event of %s/%s not sent: %s", state, job.namespace, job.name, exc)


def _run_event(
    state: str,
    run_id: str,
    job: JobRef,
    inputs: list[DatasetRef],
    outputs: list[DatasetRef],
    error: BaseException | None,
) -> Any:
    from openlineage.client import event_v2
    from openlineage.client.generated import (
        documentation_job,
        error_message_run,
        job_type_job,
        ownership_job,
        parent_run,
    )

    run_facets: dict[str, Any] = {
        "parent": parent_run.ParentRunFacet(
            run=parent_run.Run(runId=job.parent_run_id),
            job=parent_run.Job(namespace=job.namespace, name=job.parent_job),
            producer=PRODUCER,
        )
    }
    if error is not None:
        run_facets["errorMessage"] = error_message_run.ErrorMessageRunFacet(
            message=str(error),
            programmingLanguage="python",
            stackTrace="".join(traceback.format_exception(error)),
            producer=PRODUCER,
        )
    job_facets: dict[str, Any] = {
        "jobType": job_type_job.JobTypeJobFacet(
            processingType="BATCH", integration="MESHLAKE", jobType=job.job_type, producer=PRODUCER
        ),
        "ownership": ownership_job.OwnershipJobFacet(
            owners=[ownership_job.Owner(name=job.owner, type="OWNER")], producer=PRODUCER
        ),
    }
    if job.description:
        job_facets["documentation"] = documentation_job.DocumentationJobFacet(
            description=job.description, producer=PRODUCER
        )
    return event_v2.RunEvent(
        eventType=event_v2.RunState[state],
        eventTime=datetime.now(UTC).isoformat(),
        run=event_v2.Run(runId=run_id, facets=run_facets),
        job=event_v2.Job(namespace=job.namespace, name=job.name, facets=job_facets),
        inputs=[event_v2.InputDataset(*dataset_name(d.location), facets=_dataset_facets(d)) for d in inputs],
        outputs=[
            event_v2.OutputDataset(*dataset_name(d.location), facets=_dataset_facets(d), outputFacets=_output_facets(d))
            for d in outputs
        ],
        producer=PRODUCER,
    )


def _dataset_facets(dataset: DatasetRef) -> dict[str, Any]:
    from openlineage.client.generated import (
        column_lineage_dataset,
        data_quality_assertions_dataset,
        dataset_version_dataset,
        schema_dataset,
    )

    facets: dict[str, Any] = {}
    if dataset.schema is not None:
        facets["schema"] = schema_dataset.SchemaDatasetFacet(fields=_schema_fields(dataset.schema), producer=PRODUCER)
    if dataset.version is not None:
        facets["version"] = dataset_version_dataset.DatasetVersionDatasetFacet(
            datasetVersion=dataset.version, producer=PRODUCER
        )
    if dataset.columns:
        facets["columnLineage"] = column_lineage_dataset.ColumnLineageDatasetFacet(
            fields={
                column: column_lineage_dataset.Fields(
                    inputFields=[
                        column_lineage_dataset.InputField(*dataset_name(location), field=source)
                        for location, source in sources
                    ]
                )
                for column, sources in dataset.columns.items()
            },
            producer=PRODUCER,
        )
    if dataset.assertions:
        facets["dataQualityAssertions"] = data_quality_assertions_dataset.DataQualityAssertionsDatasetFacet(
            assertions=[
                data_quality_assertions_dataset.Assertion(
                    assertion=a.name, success=a.passed, column=a.column, severity=a.severity, description=a.description
                )
                for a in dataset.assertions
            ],
            producer=PRODUCER,
        )
    return facets


def _output_facets(dataset: DatasetRef) -> dict[str, Any]:
    from openlineage.client.generated import output_statistics_output_dataset

    if dataset.rows is None:
        return {}
    return {
        "outputStatistics": output_statistics_output_dataset.OutputStatisticsOutputDatasetFacet(
            rowCount=dataset.rows, producer=PRODUCER
        )
    }


def _schema_fields(schema: pa.Schema | pa.StructType) -> list[Any]:
    """The schema facet's fields: name, type, the column doc (from the .proto's comment); structs nested."""
    from openlineage.client.generated import schema_dataset

    fields = []
    for column in schema:
        doc = (column.metadata or {}).get(b"doc", b"").decode() or None
        nested = _schema_fields(column.type) if pa.types.is_struct(column.type) else []
        fields.append(
            schema_dataset.SchemaDatasetFacetFields(
                name=column.name, type=str(column.type), description=doc, fields=nested or None
            )
        )
    return fields
