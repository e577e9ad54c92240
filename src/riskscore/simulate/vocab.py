"""Word lists and reference tables the simulator draws realistic strings from."""

from __future__ import annotations

COUNTRIES: tuple[str, ...] = ("US", "GB", "CA", "FR", "DE")
COUNTRY_WEIGHTS: tuple[float, ...] = (0.60, 0.12, 0.08, 0.10, 0.10)

FIRST_NAMES: dict[str, tuple[str, ...]] = {
    "US": ("James", "Mary", "Robert", "Patricia", "John", "Jennifer", "Michael", "Linda",
           "David", "Elizabeth", "William", "Barbara", "Carlos", "Maria", "Wei", "Aisha",
           "Tyler", "Ashley", "Jamal", "Priya", "Daniel", "Sofia", "Kevin", "Emily"),
    "GB": ("Oliver", "Amelia", "Harry", "Isla", "George", "Ava", "Jack", "Mia", "Noah",
           "Olivia", "Arjun", "Fatima", "Thomas", "Grace", "Samuel", "Chloe"),
    "CA": ("Liam", "Emma", "Lucas", "Charlotte", "Ethan", "Chloe", "Mathieu", "Camille",
           "Benjamin", "Zoe", "Raj", "Mei", "Owen", "Hannah", "Gabriel", "Leah"),
    "FR": ("Lucas", "Emma", "Hugo", "Jade", "Louis", "Louise", "Gabriel", "Alice", "Arthur",
           "Chloe", "Nathan", "Ines", "Yanis", "Lea", "Mohamed", "Manon"),
    "DE": ("Lukas", "Mia", "Leon", "Emma", "Finn", "Hannah", "Jonas", "Sophia", "Paul",
           "Lena", "Felix", "Marie", "Elias", "Lea", "Mehmet", "Anna"),
}
LAST_NAMES: dict[str, tuple[str, ...]] = {
    "US": ("Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis",
           "Rodriguez", "Martinez", "Hernandez", "Lopez", "Wilson", "Anderson", "Thomas",
           "Taylor", "Moore", "Jackson", "Lee", "Nguyen", "Patel", "Kim", "Chen", "Walker"),
    "GB": ("Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Johnson", "Davies",
           "Patel", "Wright", "Evans", "Thomas", "Roberts", "Khan", "Walker", "Hughes"),
    "CA": ("Tremblay", "Gagnon", "Roy", "Smith", "Brown", "Wilson", "Martin", "Lee",
           "Bouchard", "Gauthier", "Singh", "Wong", "Campbell", "Morin", "Taylor", "Leblanc"),
    "FR": ("Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand",
           "Leroy", "Moreau", "Simon", "Laurent", "Lefebvre", "Michel", "Garcia", "Haddad"),
    "DE": ("Muller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker",
           "Schulz", "Hoffmann", "Koch", "Richter", "Klein", "Wolf", "Yilmaz", "Neumann"),
}
BUSINESS_ADJECTIVES: tuple[str, ...] = (
    "Bright", "Golden", "Blue", "Urban", "Rustic", "Silver", "Green", "North", "Happy",
    "Little", "Bold", "Prime", "Swift", "Cedar", "Maple", "Harbor", "Summit", "Copper",
    "Velvet", "Lucky", "Ember", "Coastal", "Modern", "Wild", "Honest", "Sunny", "Oak",
    "Crystal", "Royal", "Nova",
)
BUSINESS_NOUNS: tuple[str, ...] = (
    "Line", "Leaf", "Fox", "Stone", "Bear", "River", "Anchor", "Pine", "Lantern", "Bridge",
    "Field", "Peak", "Wave", "Hive", "Feather", "Forge", "Garden", "Harvest", "Arrow",
    "Owl", "Crown", "Compass", "Meadow", "Spark", "Willow", "Orchard", "Canyon", "Falcon",
    "Ridge", "Tide",
)
CORPORATE_SUFFIX: dict[str, tuple[str, ...]] = {
    "US": ("LLC", "Inc", "Co", ""), "CA": ("Inc", "Ltd", ""), "GB": ("Ltd", "Limited", ""),
    "FR": ("SARL", "SAS", ""), "DE": ("GmbH", "UG", ""),
}
WEBSITE_TLDS: dict[str, tuple[str, ...]] = {
    "US": (".com", ".com", ".co", ".shop", ".io"), "CA": (".ca", ".com", ".co"),
    "GB": (".co.uk", ".co.uk", ".com", ".uk"), "FR": (".fr", ".com", ".fr"),
    "DE": (".de", ".de", ".com"),
}
# (mcc, description, trade word used in business names, needs licence, high risk)
MCCS: tuple[tuple[str, str, str, bool, bool], ...] = (
    ("5812", "restaurants", "Kitchen", False, False),
    ("5814", "fast food", "Eats", False, False),
    ("5411", "grocery", "Market", False, False),
    ("5691", "clothing", "Apparel", False, False),
    ("5732", "electronics", "Electronics", False, True),
    ("5941", "sporting goods", "Outfitters", False, False),
    ("5945", "toys and games", "Toys", False, False),
    ("5977", "cosmetics", "Beauty", False, False),
    ("5999", "miscellaneous retail", "Goods", False, False),
    ("7230", "beauty salons", "Salon", False, False),
    ("7299", "personal services", "Services", False, False),
    ("7372", "software", "Labs", False, False),
    ("7392", "consulting", "Consulting", False, False),
    ("8299", "education", "Academy", False, False),
    ("1520", "contractors", "Builders", False, False),
    ("7349", "cleaning", "Cleaning", False, False),
    ("7538", "auto service", "Auto", False, False),
    ("0742", "veterinary", "Vet Clinic", True, False),
    ("8011", "doctors", "Health", True, False),
    ("5912", "pharmacy", "Pharmacy", True, True),
    ("5921", "liquor", "Spirits", True, True),
    ("5993", "tobacco", "Smoke Shop", True, True),
    ("4722", "travel agencies", "Travel", False, True),
    ("5967", "direct marketing", "Direct", False, True),
    ("5816", "digital games", "Games", False, True),
    ("5094", "jewelry", "Jewelers", False, True),
    ("6051", "quasi cash", "Exchange", True, True),
    ("4829", "money transfer", "Remit", True, True),
    ("8398", "charity", "Foundation", False, False),
)
FREE_EMAIL_BY_COUNTRY: dict[str, tuple[str, ...]] = {
    "US": ("gmail.com", "gmail.com", "gmail.com", "yahoo.com", "outlook.com", "hotmail.com",
           "icloud.com", "aol.com"),
    "CA": ("gmail.com", "gmail.com", "outlook.com", "hotmail.com", "yahoo.com", "icloud.com"),
    "GB": ("gmail.com", "gmail.com", "outlook.com", "hotmail.co.uk", "yahoo.co.uk",
           "icloud.com"),
    "FR": ("gmail.com", "gmail.com", "orange.fr", "hotmail.fr", "free.fr", "laposte.net",
           "yahoo.fr"),
    "DE": ("gmail.com", "gmx.de", "web.de", "gmx.net", "outlook.com", "icloud.com"),
}
DISPOSABLE_EMAIL: tuple[str, ...] = (
    "mailinator.com", "guerrillamail.com", "10minutemail.com", "yopmail.com", "tempmail.dev",
    "sharklasers.com", "getnada.com",
)
EMAIL_ROLE_LOCALS: tuple[str, ...] = ("info", "hello", "contact", "sales", "admin", "orders")
SOCIAL_SITES: tuple[str, ...] = (
    "https://www.instagram.com/", "https://www.facebook.com/", "https://www.linkedin.com/company/",
    "https://x.com/", "https://www.tiktok.com/@", "https://www.yelp.com/biz/",
)
STREET_NAMES: dict[str, tuple[str, ...]] = {
    "US": ("Main", "Oak", "Market", "Maple", "Cedar", "Elm", "Washington", "Lake", "Hill",
           "Park", "Mission", "Broadway", "Sunset", "Valencia", "Pine"),
    "CA": ("Yonge", "King", "Queen", "Bloor", "Dundas", "Granville", "Robson", "Main",
           "Saint-Denis", "Elgin"),
    "GB": ("High", "Station", "Church", "Victoria", "Green", "Manor", "Park", "Queens",
           "Mill", "Kings"),
    "FR": ("de la Republique", "Victor Hugo", "Jean Jaures", "de Paris", "Pasteur",
           "des Lilas", "Gambetta", "du Moulin"),
    "DE": ("Haupt", "Schul", "Garten", "Bahnhof", "Dorf", "Berg", "Linden", "Wald"),
}
STREET_TYPES: dict[str, tuple[tuple[str, ...], ...]] = {
    # each inner tuple: spellings of one street type (messy input uses any of them)
    "US": (("Street", "St", "St.", "street"), ("Avenue", "Ave", "Ave."), ("Road", "Rd"),
           ("Boulevard", "Blvd"), ("Drive", "Dr")),
    "CA": (("Street", "St"), ("Avenue", "Ave"), ("Road", "Rd")),
    "GB": (("Street", "St"), ("Road", "Rd"), ("Lane", "Ln")),
    "FR": (("rue",), ("avenue", "av"), ("boulevard", "blvd")),
    "DE": (("strasse", "str", "str."), ("weg",), ("platz",)),
}
CITIES: dict[str, tuple[tuple[str, str], ...]] = {
    # (city, area/postal prefix used to build postcodes and phone area codes)
    "US": (("New York", "100|212"), ("San Francisco", "941|415"), ("Chicago", "606|312"),
           ("Austin", "787|512"), ("Seattle", "981|206"), ("Miami", "331|305"),
           ("Denver", "802|303"), ("Atlanta", "303|404"), ("Los Angeles", "900|213"),
           ("Boston", "021|617"), ("Phoenix", "850|602"), ("Portland", "972|503")),
    "CA": (("Toronto", "M5V|416"), ("Vancouver", "V6B|604"), ("Montreal", "H2X|514"),
           ("Calgary", "T2P|403"), ("Ottawa", "K1P|613")),
    "GB": (("London", "SW1|20"), ("Manchester", "M1|161"), ("Birmingham", "B1|121"),
           ("Leeds", "LS1|113"), ("Bristol", "BS1|117"), ("Glasgow", "G1|141")),
    "FR": (("Paris", "750|1"), ("Lyon", "690|4"), ("Marseille", "130|4"),
           ("Bordeaux", "330|5"), ("Lille", "590|3"), ("Nantes", "440|2")),
    "DE": (("Berlin", "101|30"), ("Hamburg", "201|40"), ("Munich", "803|89"),
           ("Cologne", "506|221"), ("Frankfurt", "603|69"), ("Leipzig", "041|341")),
}
# First two octets of plausible public IPv4 ranges (all outside reserved blocks).
RESIDENTIAL_PREFIXES: dict[str, tuple[tuple[int, int], ...]] = {
    "US": ((73, 15), (98, 207), (24, 4), (68, 36), (71, 187), (174, 51), (76, 102),
           (99, 43)),
    "CA": ((24, 114), (70, 49), (99, 226), (142, 112), (174, 88)),
    "GB": ((81, 2), (86, 128), (90, 199), (2, 24), (82, 13)),
    "FR": ((90, 12), (86, 246), (92, 154), (109, 8), (88, 160)),
    "DE": ((79, 210), (84, 150), (91, 64), (93, 215), (87, 123)),
}
MOBILE_PREFIXES: dict[str, tuple[tuple[int, int], ...]] = {
    "US": ((172, 58), (107, 77), (166, 137)), "CA": ((184, 151), (208, 98)),
    "GB": ((31, 94), (148, 252)), "FR": ((37, 164), (80, 214)), "DE": ((46, 114), (37, 24)),
}
DATACENTER_PREFIXES: tuple[tuple[int, int], ...] = (
    (3, 120), (18, 204), (34, 82), (52, 14), (54, 210), (104, 131), (159, 65), (167, 99),
    (51, 38), (88, 198), (95, 216), (45, 77),
)
DATACENTER_COUNTRIES: tuple[str, ...] = ("US", "US", "US", "US", "US", "US", "GB", "US",
                                         "FR", "DE", "DE", "NL")
FOREIGN_COUNTRIES: tuple[str, ...] = ("NG", "RO", "VN", "BR", "ID", "UA", "PH", "IN")
FOREIGN_PREFIXES: tuple[tuple[int, int], ...] = (
    (102, 89), (86, 120), (113, 161), (177, 73), (36, 71), (91, 196), (112, 198), (49, 36),
)
CARD_MERCHANT_CATEGORIES: tuple[str, ...] = (
    "office_supplies", "software", "advertising", "shipping", "wholesale", "restaurants",
    "fuel", "travel", "electronics", "gift_cards", "quasi_cash",
)
PHONE_CC: dict[str, str] = {"US": "1", "CA": "1", "GB": "44", "FR": "33", "DE": "49"}
