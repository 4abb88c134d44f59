"""Shapes shared by every resource: errors and pages."""

from __future__ import annotations

from marshmallow import Schema, fields, validate


class ErrorSchema(Schema):
    code = fields.Integer(required=True, metadata={"description": "HTTP status"})
    error = fields.String(required=True, metadata={"description": "stable machine-readable code"})
    message = fields.String(required=True)
    fields_ = fields.Dict(
        data_key="fields",
        keys=fields.String(),
        values=fields.List(fields.String()),
        metadata={"description": "problems by field name"},
    )
    request_id = fields.String(required=True)
    reason = fields.String(metadata={"description": "set on conflicts a page acts on"})


class PageArgsSchema(Schema):
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=1000))
    cursor = fields.String(
        load_default=None,
        allow_none=True,
        metadata={"description": "next_cursor of the previous page"},
    )


def page_of(item_schema: type[Schema], name: str) -> type[Schema]:
    """A page of ``item_schema`` items with the cursor of the next page."""
    return Schema.from_dict(
        {
            "items": fields.List(fields.Nested(item_schema), required=True),
            "next_cursor": fields.String(
                allow_none=True, required=True, metadata={"description": "null on the last page"}
            ),
        },
        name=name,
    )
