"""Words, places and schemas the data generator draws from.

Towns are real with their real coordinates, so geo queries find neighbours and search finds
names people would type.
"""

from __future__ import annotations

from typing import Any

# fmt: off
# (town, lat, lon)
TOWNS = [
    ("Jerusalem", 31.778, 35.235), ("Haifa", 32.794, 34.990), ("Lisbon", 38.722, -9.139),
    ("Porto", 41.158, -8.629), ("Madrid", 40.417, -3.704), ("Valencia", 39.470, -0.376),
    ("Lyon", 45.764, 4.836), ("Marseille", 43.296, 5.370), ("Hamburg", 53.551, 9.994),
    ("Munich", 48.135, 11.582), ("Vienna", 48.208, 16.373), ("Krakow", 50.065, 19.945),
    ("Prague", 50.076, 14.438), ("Utrecht", 52.091, 5.122), ("Antwerp", 51.219, 4.402),
    ("Dublin", 53.350, -6.260), ("Leeds", 53.801, -1.549), ("Glasgow", 55.864, -4.252),
    ("Bergen", 60.391, 5.322), ("Tampere", 61.498, 23.761), ("Bologna", 44.494, 11.343),
    ("Naples", 40.852, 14.268), ("Athens", 37.984, 23.728), ("Izmir", 38.424, 27.143),
    ("Nairobi", -1.292, 36.822), ("Accra", 5.603, -0.187), ("Montreal", 45.502, -73.567),
    ("Denver", 39.739, -104.990), ("Austin", 30.267, -97.743), ("Recife", -8.048, -34.877),
    ("Osaka", 34.694, 135.502), ("Pune", 18.520, 73.857), ("Perth", -31.950, 115.860),
]
FACILITIES = [
    "pumping station", "depot", "water tower", "substation", "warehouse", "clinic",
    "school", "library", "bus garage", "treatment plant", "fire station", "reservoir",
    "community centre", "recycling yard", "transit hub", "sports hall", "market hall",
]
QUALIFIERS = ["north", "south", "east", "west", "central", "old", "new", "upper", "lower",
              "harbour"]
ASSETS = [
    "generator", "boiler", "transformer", "elevator", "chiller", "pressure valve", "forklift",
    "backup pump", "air handler", "fuel tank", "sprinkler riser", "solar inverter",
]
MAKERS = ["Siemens", "Grundfos", "Atlas Copco", "Schneider", "Kohler", "Daikin", "Bosch", "ABB"]
CONDITIONS = ["good", "fair", "worn", "faulty"]
OBSERVATIONS = [
    "corrosion on the {thing}", "a slow leak near the {thing}", "noise from the {thing}",
    "the {thing} tripped twice overnight", "a cracked housing on the {thing}",
    "low pressure at the {thing}", "the {thing} needs a new seal", "rust stains under the {thing}",
    "the {thing} runs hot under load", "a missing inspection tag on the {thing}",
]
FIRST = ["Maya", "Yosef", "Ana", "Tiago", "Lena", "Jonas", "Amira", "Kofi", "Sofia", "Ravi"]
LAST = ["Levi", "Costa", "Novak", "Schmidt", "Mensah", "Rossi", "Tanaka", "Patel", "Murphy"]
# fmt: on

# The entity types a scenario may define, in order (`data.entity_types` takes the first N).
TYPE_TEMPLATES: list[dict[str, Any]] = [
    {
        "name": "Site",
        "fields": [
            {"name": "title", "type": "text", "required": True, "searchable": "A"},
            {"name": "town", "type": "text", "searchable": "B"},
            {"name": "notes", "type": "long_text", "searchable": "C"},
            {"name": "population", "type": "integer", "constraints": {"min": 0}},
            {"name": "contact", "type": "email"},
        ],
        "search_importance": "population",
    },
    {
        "name": "Asset",
        "fields": [
            {"name": "title", "type": "text", "required": True, "searchable": "A"},
            {"name": "maker", "type": "text", "searchable": "B"},
            {"name": "condition", "type": "enum", "constraints": {"values": CONDITIONS}},
            {"name": "hours", "type": "integer", "constraints": {"min": 0}},
            {"name": "installed", "type": "date"},
        ],
        "search_importance": "hours",
    },
    {
        "name": "Vehicle",
        "fields": [
            {"name": "title", "type": "text", "required": True, "searchable": "A"},
            {"name": "plate", "type": "text", "searchable": "B"},
            {"name": "odometer", "type": "number", "constraints": {"min": 0}},
            {"name": "in_service", "type": "boolean"},
        ],
    },
    {
        "name": "Contract",
        "fields": [
            {"name": "title", "type": "text", "required": True, "searchable": "A"},
            {"name": "supplier", "type": "text", "searchable": "B"},
            {"name": "value", "type": "number", "constraints": {"min": 0}},
            {"name": "renewal", "type": "date"},
        ],
        "search_importance": "value",
    },
]
