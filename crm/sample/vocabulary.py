"""Fixed vocabularies of the generated data: categories, seasonality, tags, domains, sources."""

from __future__ import annotations

import numpy as np

__all__ = [
    "CATEGORIES",
    "DISQUALIFY_REASONS",
    "FAKE_NAMES",
    "FREE_DOMAINS_EN",
    "FREE_DOMAINS_RU",
    "LEAD_CHANNELS",
    "LEAD_SOURCES",
    "LOST_REASONS",
    "MONTH_WEIGHT",
    "TAG_VOCABULARY",
    "TYPO_DOMAINS",
    "WON_REASONS",
]

CATEGORIES = np.array(
    ["electronics", "home", "beauty", "kids", "sport", "books", "food", "fashion", "pets", "garden"]
)
MONTH_WEIGHT = np.array([0.7, 0.8, 1.1, 0.95, 0.95, 0.9, 0.85, 0.85, 1.0, 1.05, 1.35, 1.6])
TAG_VOCABULARY = [
    ("interest", "sport", "Sport", "Спорт"),
    ("interest", "travel", "Travel", "Путешествия"),
    ("interest", "kids", "Kids", "Дети"),
    ("interest", "pets", "Pets", "Домашние животные"),
    ("interest", "beauty", "Beauty", "Красота"),
    ("interest", "electronics", "Electronics", "Электроника"),
    ("rooms", "1", "1 room", "1 комната"),
    ("rooms", "2", "2 rooms", "2 комнаты"),
    ("rooms", "3", "3 rooms", "3 комнаты"),
    ("rooms", "4+", "4+ rooms", "4+ комнат"),
    ("floor", "low", "Low floor", "Низкий этаж"),
    ("floor", "middle", "Middle floor", "Средний этаж"),
    ("floor", "high", "High floor", "Высокий этаж"),
    ("buying_for", "self", "For self", "Для себя"),
    ("buying_for", "family", "For family", "Для семьи"),
    ("buying_for", "investment", "Investment", "Инвестиция"),
]
FREE_DOMAINS_RU = np.array(
    ["mail.ru", "yandex.ru", "gmail.com", "bk.ru", "list.ru", "inbox.ru", "rambler.ru"]
)
FREE_DOMAINS_EN = np.array(["gmail.com", "outlook.com", "yahoo.com", "hotmail.co.uk", "icloud.com"])
TYPO_DOMAINS = np.array(
    ["gmial.com", "gmail.co", "mail.ry", "yandex.ry", "yandx.ru", "hotmial.com", "outlok.com"]
)
FAKE_NAMES = np.array(["test", "asdf", "ххх", "qwerty", "Тест", "aaa", "-"])
LEAD_SOURCES = np.array(["site_form", "email", "messenger", "call", "social", "offline"])
LEAD_CHANNELS = np.array(["yandex_direct", "google_ads", "vk_ads", "seo", "referral", "offline"])
DISQUALIFY_REASONS = np.array(
    ["non_target", "competitor", "click_fraud", "wrong_region", "duplicate"]
)
LOST_REASONS = np.array(["price", "competitor", "no_budget", "no_response", "timing"])
WON_REASONS = np.array(["price", "service", "recommendation", "product_fit"])
