"""Unsubscription reports, DOI mailings and ping."""

from __future__ import annotations

from typing import Any
from xml.etree.ElementTree import Element, SubElement  # building only

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from sandbox.digits import ascii_int
from sandbox.maileon.core import SimCore
from sandbox.maileon.gate import acc_of
from sandbox.maileon.model import Account, ApiError
from sandbox.maileon.params import paged_headers, paging, q_int
from sandbox.maileon.xmlio import sub, xml_response


class ReportRoutes:
    """Report, mailing and ping endpoints."""

    def __init__(self, core: SimCore) -> None:
        self.core = core

    def routes(self) -> list[BaseRoute]:
        """Routes under `/1.0`."""
        return [
            Route("/ping", self.ping, methods=["GET", "POST", "PUT", "DELETE"]),
            Route("/mailings/filter/types", self.mailings_by_type, methods=["GET"]),
            Route("/mailings/{mailing_id}/settings/doi_key", self.mailing_doi_key, methods=["GET"]),
            Route("/reports/unsubscriptions", self.unsubscriptions_report, methods=["GET"]),
            Route("/reports/unsubscriptions/count", self.unsubscriptions_count, methods=["GET"]),
        ]

    # -- reports ---------------------------------------------------------------------------------

    def filtered_unsubscriptions(self, request: Request) -> list[dict[str, Any]]:
        acc = acc_of(request)
        from_date = q_int(request, "from_date", None)
        to_date = q_int(request, "to_date", None)
        emails = {e.lower() for e in request.query_params.getlist("emails")}
        eids = set(request.query_params.getlist("eids"))
        ids = set(request.query_params.getlist("ids"))
        sources = set(request.query_params.getlist("source"))
        mailings = set(request.query_params.getlist("mailing_id"))
        out = []
        for u in acc.unsubscriptions:
            if from_date is not None and u["timestamp"] < from_date:
                continue
            if to_date is not None and u["timestamp"] >= to_date:
                continue
            if emails and (u["email"] or "").lower() not in emails:
                continue
            if eids and u["external_id"] not in eids:
                continue
            if ids and str(u["contact_id"]) not in ids:
                continue
            if sources and u["source"] not in sources:
                continue
            if mailings and str(u["mailing_id"]) not in mailings:
                continue
            out.append(u)
        return sorted(out, key=lambda u: (u["timestamp"], u["id"]))

    async def unsubscriptions_report(self, request: Request) -> Response:
        index, size = paging(request)
        items = self.filtered_unsubscriptions(request)
        root = Element("unsubscriptions")
        for u in items[(index - 1) * size : index * size]:
            el = SubElement(root, "unsubscription")
            sub(el, "timestamp", u["time"])
            contact = SubElement(el, "contact")
            sub(contact, "id", u["contact_id"])
            sub(contact, "email", u["email"])
            sub(contact, "external_id", u["external_id"])
            if u["mailing_id"] is not None:
                sub(el, "mailing_id", u["mailing_id"])
            sub(el, "source", u["source"])
            if u["msg_id"] is not None:
                sub(el, "msg_id", u["msg_id"])
        response = xml_response(root)
        paged_headers(request, response, index, size, len(items))
        return response

    async def unsubscriptions_count(self, request: Request) -> Response:
        root = Element("count")
        root.text = str(len(self.filtered_unsubscriptions(request)))
        return xml_response(root)

    # -- DOI mailings ---------------------------------------------------------------------------

    def doi_mailings(self, acc: Account) -> dict[int, str]:
        """Each DOI key of the account is one DOI mailing (mailing id -> key)."""
        for key in sorted(acc.doi_keys):
            if key not in acc.doi_mailing_ids:
                acc.doi_mailing_ids[key] = self.core.next_id("mailing")
        return {mid: key for key, mid in acc.doi_mailing_ids.items() if key in acc.doi_keys}

    async def mailings_by_type(self, request: Request) -> Response:
        types = {t for raw in request.query_params.getlist("types") for t in raw.split(",")}
        if not types or not types <= {"doi", "trigger", "regular"}:
            raise ApiError(400, "types must be doi, trigger or regular")
        index, size = paging(request, 10)
        ids = sorted(self.doi_mailings(acc_of(request))) if "doi" in types else []
        root = Element("mailings")
        for mid in ids[(index - 1) * size : index * size]:
            sub(SubElement(root, "mailing"), "id", mid)
        response = xml_response(root)
        paged_headers(request, response, index, size, len(ids))
        return response

    async def mailing_doi_key(self, request: Request) -> Response:
        raw = request.path_params["mailing_id"]
        number = ascii_int(raw)
        key = None if number is None else self.doi_mailings(acc_of(request)).get(number)
        if key is None:
            raise ApiError(404, "mailing not found")
        root = Element("doi_key")
        root.text = key
        return xml_response(root)

    async def ping(self, request: Request) -> Response:
        return Response(status_code=200)
