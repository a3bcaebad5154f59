"""The plan's eight cities and the other spellings records use for them."""
from typing import Optional

CITIES = ("Dhaka", "Chittagong", "Sylhet", "Khulna", "Rajshahi", "Barisal", "Rangpur",
          "Mymensingh")
_ALIASES = {"chattogram": "Chittagong", "ctg": "Chittagong", "barishal": "Barisal",
            "dacca": "Dhaka", "mymensing": "Mymensingh"}
_BY_KEY = {**{city.casefold(): city for city in CITIES}, **_ALIASES}


def canonical_city(name: Optional[str]) -> Optional[str]:
    """The plan's spelling of a city name, or None when it is not one of the eight cities."""
    if not isinstance(name, str) or not name.strip():
        return None
    return _BY_KEY.get(name.strip().casefold())
