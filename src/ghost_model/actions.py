"""What a partner manager can do next, by the stage that drives a partner's risk.

Each stage of partner silence calls for a different move: when proposals stop
closing, help the partner win again; when the partner drifts away, close the distance
in person; when the product slips down the partner's list, work on its people and its
management. The suggestions are short imperative sentences in English and Japanese.
"""

from __future__ import annotations

import logging

from ghost_model.errors import ConfigError

logger = logging.getLogger(__name__)

LANGS: tuple[str, ...] = ("en", "ja")
"""Languages of the texts shown to partner-sales teams."""

ACTIONS: dict[str, dict[str, tuple[str, ...]]] = {
    "sellability": {
        "en": (
            "Hold a joint review of the partner's stalled deals and agree the next "
            "step for each.",
            "Share winning cases and proposal material from similar partners.",
            "Offer a presales engineer for the next two proposals.",
        ),
        "ja": (
            "停滞している案件をパートナーと一緒に棚卸しし、案件ごとに次の一手を決める。",
            "似た規模のパートナーの成功事例と提案資料を共有する。",
            "次の2件の提案にプリセールスの同行を申し出る。",
        ),
    },
    "distance": {
        "en": (
            "Visit or call the partner in person rather than by mail.",
            "Check how quickly and how fully their recent questions were answered.",
            "If the partner manager changed or is overloaded, arrange a proper "
            "hand-over meeting.",
        ),
        "ja": (
            "メールではなく、訪問か電話で直接コンタクトを取る。",
            "最近の問い合わせへの回答スピードと回答内容を確認する。",
            "担当PSMの交代や負荷の偏りがあれば、あらためて引き継ぎの場を設ける。",
        ),
    },
    "priority": {
        "en": (
            "Onboard the partner's new reps: a product briefing and a first joint "
            "proposal.",
            "Meet the partner's management to realign on targets and the joint plan.",
            "Find who now owns our product at the partner after the departures.",
        ),
        "ja": (
            "パートナーの新任営業向けに製品説明会を開き、最初の提案を一緒に作る。",
            "パートナーの経営層と面談し、目標と共同の販売計画をすり合わせる。",
            "担当者の退職・異動を受けて、当社製品の新しい窓口を確認する。",
        ),
    },
}
"""Suggested actions per driving stage and language."""

NO_DRIVER: dict[str, tuple[str, ...]] = {
    "en": ("No stage pushes this partner towards silence: keep the usual rhythm.",),
    "ja": ("離反を押し上げている段階はありません。通常のフォローを続けてください。",),
}


def check_lang(lang: str) -> str:
    """Return ``lang`` when it is a supported language, else raise.

    Parameters
    ----------
    lang
        A language code.

    Returns
    -------
    str
        ``lang`` unchanged.

    Raises
    ------
    ConfigError
        When ``lang`` is not one of :data:`LANGS`.
    """
    if lang not in LANGS:
        raise ConfigError(f"language {lang!r} is not supported; use one of {LANGS}")
    return lang


def suggest_actions(stage: str | None, lang: str = "en") -> list[str]:
    """The suggested actions for a partner whose risk is driven by ``stage``.

    Parameters
    ----------
    stage
        The driving stage (``sellability``, ``distance`` or ``priority``), or None
        when no stage pushes the partner towards silence.
    lang
        ``"en"`` or ``"ja"``.

    Returns
    -------
    list of str
        The actions, most important first.

    Raises
    ------
    ConfigError
        When ``stage`` or ``lang`` is unknown.
    """
    check_lang(lang)
    if stage is None:
        return list(NO_DRIVER[lang])
    if stage not in ACTIONS:
        raise ConfigError(
            f"stage {stage!r} has no suggested actions; expected one of "
            f"{sorted(ACTIONS)} or None"
        )
    return list(ACTIONS[stage][lang])
