"""Money is integer fen (API.md, R-FIN-1): every request field ending `_fen`, on every route of every
service, takes a JSON integer and refuses a string ("500") or a number written as a float (500.0) —
422 naming the field — instead of quietly converting it. Walked over the routes' own body models, so
a field added tomorrow is covered the day it is added."""

from __future__ import annotations

import types
import typing
from typing import Annotated, Any

import evaluation.main
import finance.main
import pytest
import registry.main
import services_log.main
from fastapi.routing import APIRoute
from pydantic import BaseModel, TypeAdapter, ValidationError

from shared.infra.settings import Settings

APPS = {"registry": registry.main, "services-log": services_log.main, "evaluation": evaluation.main, "finance": finance.main}


def models_in(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    if typing.get_origin(annotation) in (typing.Union, types.UnionType, list, dict, tuple, Annotated):
        return [m for arg in typing.get_args(annotation) for m in models_in(arg)]
    return []


def routes(found: list[Any]) -> list[APIRoute]:
    """The API routes, also those of included routers and mounted apps."""
    flat: list[APIRoute] = []
    for item in found:
        if isinstance(item, APIRoute):
            flat.append(item)
        elif hasattr(item, "original_router"):  # an included APIRouter
            flat += routes(item.original_router.routes)
        elif hasattr(getattr(item, "app", None), "routes"):
            flat += routes(item.app.routes)
    return flat


def money_fields(service: str) -> dict[str, Any]:
    """Every ``*_fen`` field of the request bodies, by ``Model.field``, as a validating adapter."""
    found: dict[str, Any] = {}
    todo = [m for r in routes(APPS[service].create_app(Settings()).routes) for p in r.dependant.body_params
            for m in models_in(p.field_info.annotation)]
    seen: set[type[BaseModel]] = set()
    while todo:
        model = todo.pop()
        if model in seen:
            continue
        seen.add(model)
        for name, info in model.model_fields.items():
            todo += models_in(info.annotation)
            if name.endswith("_fen"):
                found[f"{model.__name__}.{name}"] = TypeAdapter(Annotated[info.annotation, info])
    return found


def test_the_walk_finds_the_money_fields_api_md_names():
    names = {k for s in APPS for k in money_fields(s)}
    assert {"ContractIn.amount_fen", "FundingIn.amount_fen", "ExpenseIn.amount_fen", "BudgetIn.amount_fen"} <= names, names


@pytest.mark.parametrize("service", sorted(APPS))
def test_every_money_field_takes_integers_only(service):
    lax = []
    for where, adapter in money_fields(service).items():
        assert adapter.validate_json("500") == 500, where
        for written in ('"500"', "500.0", "500.5"):
            try:
                adapter.validate_json(written)
                lax.append(f"{where} took {written}")
            except ValidationError:
                pass
    assert lax == []
