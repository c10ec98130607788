"""Callbacks the simulated corp sends: event XML, encrypted and POSTed to siyu.

The XML follows WeCom's documented layout (CDATA strings, integer CreateTime). The
body is encrypted and signed with ``siyu.wecom.crypto.CallbackCrypto`` exactly as
WeCom does. Like WeCom, a delivery that does not get HTTP 200 within 5 seconds is
retried (3 times). Deliveries are kept so tests can replay one (a duplicate) or hold
some back and release them in another order.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field

import httpx

from siyu.wecom.crypto import CallbackCrypto

log = logging.getLogger("siyu.wecom.simulator")
RETRIES = 3


def _cdata(value: str) -> str:
    return "<![CDATA[" + value.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def event_xml(corp_id: str, create_time: int, event: str, change_type: str, **fields: object) -> str:
    """One event message; list values become ``<Item>`` children (MemChangeList)."""
    parts = [
        f"<ToUserName>{_cdata(corp_id)}</ToUserName>",
        f"<FromUserName>{_cdata('sys')}</FromUserName>",
        f"<CreateTime>{create_time}</CreateTime>",
        f"<MsgType>{_cdata('event')}</MsgType>",
        f"<Event>{_cdata(event)}</Event>",
        f"<ChangeType>{_cdata(change_type)}</ChangeType>",
    ]
    for name, value in fields.items():
        if value is None:
            continue
        if isinstance(value, list):
            items = "".join(f"<Item>{_cdata(str(v))}</Item>" for v in value)
            parts.append(f"<{name}>{items}</{name}>")
        elif isinstance(value, int):
            parts.append(f"<{name}>{value}</{name}>")
        else:
            parts.append(f"<{name}>{_cdata(str(value))}</{name}>")
    return "<xml>" + "".join(parts) + "</xml>"


@dataclass
class Delivery:
    """One callback: its plain XML, the encrypted body and query, and what came back."""

    xml: str
    body: str
    params: dict[str, str]
    status: int | None = None
    attempts: int = 0


@dataclass
class CallbackSender:
    """Encrypts and POSTs callbacks to ``url`` (or keeps them while ``held``)."""

    url: str | None
    crypto: CallbackCrypto | None
    timeout: float = 5.0
    deliveries: list[Delivery] = field(default_factory=list)
    held: list[Delivery] = field(default_factory=list)
    holding: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def send(self, xml: str) -> Delivery:
        """Encrypt one event and deliver it (or hold it)."""
        if self.crypto is None:
            delivery = Delivery(xml=xml, body="", params={})
        else:
            body, params = self.crypto.build_post_body(xml)
            delivery = Delivery(xml=xml, body=body, params=params)
        with self._lock:
            self.deliveries.append(delivery)
            if self.holding:
                self.held.append(delivery)
                return delivery
        self.deliver(delivery)
        return delivery

    def deliver(self, delivery: Delivery) -> int | None:
        """POST one (possibly already sent) delivery, retrying like WeCom does."""
        if not self.url or not delivery.body:
            return None
        for _ in range(1 + RETRIES):
            delivery.attempts += 1
            try:
                resp = httpx.post(
                    self.url,
                    params=delivery.params,
                    content=delivery.body.encode(),
                    headers={"Content-Type": "text/xml"},
                    timeout=self.timeout,
                )
                delivery.status = resp.status_code
                if resp.status_code == 200:
                    return 200
            except httpx.HTTPError as exc:
                log.warning("callback to %s failed: %s", self.url, exc)
                delivery.status = None
        return delivery.status

    def release(self, order: list[int] | None = None) -> list[Delivery]:
        """Stop holding and deliver the held callbacks (in ``order`` of their indexes)."""
        with self._lock:
            held, self.held, self.holding = self.held, [], False
        chosen = [held[i] for i in order] if order is not None else held
        for delivery in chosen:
            self.deliver(delivery)
        return chosen
