"""Invented content for the task families: names, places, things, and sentences with a known label.

Every list is split by `Draw.part` (every fourth item held out), so lists are kept long enough for both
parts. None of it is taken from the bench suites or a public data set.
"""

from __future__ import annotations

FIRST_NAMES = (
    "Mira", "Tomas", "Ines", "Kwame", "Yuki", "Ravi", "Sofia", "Pavel", "Amara", "Lucas", "Hana", "Omar",
    "Greta", "Diego", "Nadia", "Felix", "Zara", "Ivan", "Leila", "Marco", "Priya", "Jonas", "Rosa", "Malik",
    "Elena", "Tariq", "Anouk", "Bruno", "Keiko", "Samir", "Vera", "Hugo", "Ayla", "Nils", "Carmen", "Idris",
    "Lotte", "Mateo", "Suki", "Andrei", "Noor", "Oskar", "Talia", "Emre", "Freya", "Rafael", "Dina", "Kofi",
)
LAST_NAMES = (
    "Novak", "Okafor", "Lindqvist", "Moreau", "Tanaka", "Haddad", "Costa", "Petrov", "Mensah", "Fischer",
    "Alvarez", "Kowal", "Brandt", "Sato", "Rahman", "Duarte", "Weber", "Nakamura", "Osei", "Varga",
    "Jensen", "Ferreira", "Aziz", "Holm", "Ruiz", "Berg", "Kaplan", "Mori", "Santos", "Ward",
    "Lund", "Castillo", "Iqbal", "Richter", "Banda", "Quinn",
)
CITIES = (
    "Porto", "Krakow", "Nairobi", "Osaka", "Valencia", "Tbilisi", "Bergen", "Quito", "Leeds", "Izmir",
    "Gdansk", "Accra", "Cordoba", "Tampere", "Hanoi", "Graz", "Bilbao", "Cusco", "Dakar", "Utrecht",
    "Kyoto", "Seville", "Ghent", "Lagos", "Brno", "Perth", "Malmo", "Recife", "Turin", "Hobart",
    "Riga", "Zagreb", "Oaxaca", "Tallinn", "Durban", "Leipzig", "Cork", "Lublin", "Mombasa", "Sapporo",
    "Arequipa", "Aarhus", "Bristol", "Curitiba", "Haifa", "Lille", "Pune", "Ottawa",
)
COMPANIES = (  # with a legal suffix, as companies are written (the entity tagger needs it too)
    "Borealis Freight Ltd", "Quillmark Inc.", "Tessera Labs Group", "Northwind Mills Corporation",
    "Brightwater Foods Inc.", "Kestrel Motors Group", "Lumen Textiles Corporation", "Halcyon Bank Ltd",
    "Orchid Pharma Group", "Ironleaf Tools Corporation", "Cobalt Harbor Ltd", "Saffron Air Inc.",
    "Juniper Robotics Corporation", "Maplestone Press Ltd", "Vantage Optics Inc.", "Redfern Energy Group",
    "Silverline Rail Ltd", "Pinecrest Insurance Inc.", "Marigold Studios Group", "Granite Peak Software Corporation",
    "Bluefin Logistics Inc.", "Amberly Foods Group", "Stratus Devices Corporation", "Willowby Books Ltd",
)
PRODUCTS = (
    "kettle", "lamp", "backpack", "toaster", "umbrella", "keyboard", "jacket", "blender", "tent", "speaker",
    "mattress", "stroller", "printer", "router", "vacuum", "monitor", "suitcase", "drill", "watch", "scarf",
    "camera", "chair", "mixer", "heater", "phone case", "desk", "charger", "bicycle", "fan", "coffee grinder",
    "rice cooker", "water bottle", "sofa", "hair dryer", "iron", "oven", "kite", "tripod", "skillet",
    "headlamp", "scooter", "thermos", "wallet", "easel",
)
GOODS = (
    "lemons", "onions", "carrots", "melons", "figs", "cherries", "potatoes", "peppers", "beans", "grapes",
    "mangoes", "leeks", "apricots", "cabbages", "radishes", "olives", "walnuts", "plantains", "turnips",
    "kiwis", "limes", "quinces", "peas", "lentils", "oranges", "dates", "chestnuts", "celery", "squash",
    "papayas", "shallots", "guavas",
)
REGIONS = ("harbor", "hills", "valley", "coast", "center", "airport", "old town", "riverside",
           "uptown", "market", "suburbs", "docks")
TEAMS = ("sales", "support", "design", "finance", "research", "legal", "marketing", "operations",
         "security", "logistics", "training", "quality")
SUBJECTS = ("math", "history", "biology", "art", "music", "geography", "physics", "chemistry",
            "drama", "economics", "latin", "chess")
WORDS = (
    "lantern", "pebble", "orbit", "thistle", "cobalt", "walrus", "saffron", "glacier", "pumpkin", "falcon",
    "marble", "juniper", "comet", "velvet", "harbor", "meadow", "quartz", "biscuit", "canyon", "ember",
    "hazel", "nectar", "prism", "rocket", "sparrow", "tundra", "violet", "whistle", "zephyr", "almond",
    "beacon", "cactus", "dolphin", "fennel", "galaxy", "igloo", "jasmine", "kayak", "lagoon", "mango",
    "nugget", "otter", "pepper", "quiver", "raven", "sierra", "tulip", "umber", "vortex", "willow",
    "yonder", "zinnia",
)
STATUSES = ("open", "shipped", "paid", "cancelled", "pending", "returned", "delivered", "refunded")
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday", "Monday")
LOG_LEVELS = ("INFO", "DEBUG", "WARN", "ERROR")
EXTENSIONS = ("py", "txt", "md", "csv", "json", "yaml", "log", "ini")

# -- sentences with a known sentiment ------------------------------------------------------------------

POSITIVE = (
    "The {p} works perfectly and I use it every day.",
    "I love this {p}, it was worth every penny.",
    "Excellent {p}, sturdy and easy to use.",
    "My new {p} is fantastic and arrived early.",
    "What a great {p}, I am really happy with it.",
    "The {p} is wonderful, quiet and very reliable.",
    "Five stars, the {p} exceeded all my expectations.",
    "Really pleased with this {p}, the quality is superb.",
    "The {p} is brilliant and my whole family loves it.",
    "Amazing {p}, I would happily recommend it to friends.",
    "This {p} is a delight, beautifully made and fast.",
    "I am thrilled with the {p}, it is simply perfect.",
    "The {p} is lovely and the service was friendly and quick.",
    "Best {p} I have owned, it works great.",
    "Superb {p}, it does exactly what I hoped and more.",
    "Great {p} at a fair price, I am very satisfied.",
)
NEGATIVE = (
    "The {p} stopped working after a week, very disappointing.",
    "I hate this {p}, it is cheap and flimsy.",
    "Awful {p}, it broke the first time I used it.",
    "The {p} arrived damaged and the seller never replied.",
    "Terrible {p}, a total waste of money.",
    "The {p} is noisy, slow and keeps failing.",
    "One star, the {p} is the worst thing I have bought.",
    "Really unhappy with this {p}, the quality is poor.",
    "The {p} is useless and the refund took months.",
    "Horrible {p}, I regret buying it.",
    "This {p} is a disaster, it leaks and rattles.",
    "I am furious about the {p}, it failed after two days.",
    "The {p} is broken and customer service was rude.",
    "Worst {p} ever, do not buy it.",
    "Dreadful {p}, it overheats and smells of burning plastic.",
    "Bad {p} for the price, I am very dissatisfied.",
)

# -- headlines with a known topic ----------------------------------------------------------------------

HEADLINES: dict[str, tuple[str, ...]] = {
    "sports": (
        "{city} striker scores twice as her club wins the league title",
        "Veteran goalkeeper saves three penalties in the {city} cup final",
        "Marathon runner from {city} breaks the course record by a minute",
        "Tennis star reaches the semi-final after a five-set battle",
        "{city} rugby side loses its coach after a run of defeats",
        "Cyclist wins the mountain stage and takes the leader's jersey",
        "Basketball team signs a new point guard before the playoffs",
        "Swimmer sets a national record in the 200 metres freestyle",
    ),
    "business": (
        "{company} profits rise as sales in {city} jump",
        "Shares of {company} fall after a weak quarterly forecast",
        "{company} agrees to buy a rival retailer for two billion",
        "Central bank raises interest rates to cool rising prices",
        "{company} cuts five hundred jobs to reduce costs",
        "Investors cheer as {company} doubles its dividend",
        "Retail sales slow for a third month as shoppers spend less",
        "{company} opens a new factory outside {city} to meet demand",
    ),
    "technology": (
        "{company} unveils a laptop chip that halves power use",
        "New app lets users translate speech in real time",
        "Researchers build a faster battery for electric cars",
        "{company} releases an update that fixes a serious security flaw",
        "Software engineers in {city} launch an open source database",
        "Startup shows a smartphone that folds into a watch",
        "Cloud outage knocks thousands of websites offline for hours",
        "{company} tests delivery drones over {city}",
    ),
    "politics": (
        "Parliament passes a new law on housing after a long debate",
        "The mayor of {city} resigns ahead of the election",
        "Voters in {city} head to the polls to choose a new governor",
        "Opposition leader calls for a vote of no confidence",
        "Minister announces a plan to reform the tax system",
        "Senators reject the budget proposal in a close vote",
        "President signs a treaty with neighbouring countries",
        "Coalition talks collapse as parties fail to agree",
    ),
    "weather": (
        "Heavy snow closes roads across {city}",
        "Heatwave brings record temperatures to the coast",
        "Storm warning issued as strong winds approach {city}",
        "Flooding follows days of heavy rain in the valley",
        "Forecasters expect a dry and sunny weekend",
        "Fog delays flights at the {city} airport",
        "Thunderstorms and hail expected this afternoon",
        "Cold front brings frost to the region overnight",
    ),
    "cooking": (
        "Chef shares a simple recipe for lemon risotto",
        "How to bake crusty bread at home in three steps",
        "A {city} baker wins a prize for her sourdough",
        "Five quick soups to make with winter vegetables",
        "The secret to a perfect tomato sauce is patience",
        "New cookbook celebrates the street food of {city}",
        "How to roast vegetables so they stay crisp",
        "Readers share their favourite pancake recipes",
    ),
    "health": (
        "Doctors say a daily walk lowers the risk of heart disease",
        "New vaccine trial shows strong results in adults",
        "Hospital in {city} opens a new children's ward",
        "Study links poor sleep with higher stress levels",
        "Nurses warn of a busy flu season this winter",
        "Drinking more water helps prevent headaches, experts say",
        "Clinic offers free eye tests to older residents",
        "Researchers find a cheaper treatment for asthma",
    ),
    "music": (
        "Band from {city} releases its first album in a decade",
        "Orchestra plays a sold-out concert of new symphonies",
        "Singer announces a world tour starting in {city}",
        "Jazz festival returns to the harbor this summer",
        "Young pianist wins an international competition",
        "Rock group reunites for a charity concert",
        "Folk singer records an album in her kitchen",
        "Opera house in {city} stages a new production",
    ),
}

# -- people, places and organisations in sentences ---------------------------------------------------

BIOS = (
    "{person} was born in {city} in {year}. {first} studied engineering and later joined {company}.",
    "Born in {city}, {person} moved abroad at the age of twenty. {first} now leads a team at {company}.",
    "{person} grew up in {city}. In {year} {first} founded a small bakery that became famous.",
    "The painter {person} was born in {city} in {year} and spent most of her life by the sea.",
    "{person}, who was born in {city}, has worked at {company} since {year}.",
    "In {year}, {person} left {city} to study music. {first} later taught at a conservatory.",
    "{person} is a chemist from {city}. {first} was born there in {year} and works for {company}.",
    "{person} was born in {city}. After school {first} became a pilot for {company}.",
)
MEETINGS = (
    "{a} opened the meeting and {b} presented the budget. {c} asked about the timeline.",
    "Present: {a}, {b} and {c}. {b} agreed to send the report by Friday.",
    "{a} and {b} discussed the new office, and {c} took the notes.",
    "The review was led by {a}. {b} and {c} raised questions about testing.",
    "{a} welcomed {b} to the team; {c} will help with onboarding.",
    "Call with {a}, {b} and {c}: the launch moves to next month.",
    "{a} thanked {b} and {c} for finishing the migration early.",
    "Minutes: {a} chaired, {b} reported on sales, {c} closed the meeting.",
)
PRESS = (
    "{company} announced today that it will open a new office in {city}.",
    "In a statement, {company} said the recall affects older models only.",
    "{company} has hired three hundred engineers this year, the firm said.",
    "Shares in {company} rose after the company reported strong results.",
    "{company} will sponsor the city marathon in {city} next spring.",
    "The founder of {company} spoke about the firm's plans at a conference in {city}.",
    "{company} signed a deal to supply buses to the city of {city}.",
    "Customers praised {company} for its fast repairs, a survey found.",
)

# -- short articles for summaries ----------------------------------------------------------------------

ARTICLES: dict[str, tuple[str, ...]] = {
    "bees": (
        "Bees pollinate a large share of the crops that people eat.",
        "A single hive can hold tens of thousands of worker bees in summer.",
        "Farmers rent hives so that bees visit their orchards when the trees flower.",
        "Beekeepers worry about mites and diseases that weaken the colonies.",
        "Planting wild flowers in cities gives bees food from spring to autumn.",
        "Honey is made from nectar that the bees store and dry inside the comb.",
    ),
    "trains": (
        "Night trains are returning to many routes across the continent.",
        "Travellers choose them because a sleeping car saves the cost of a hotel.",
        "Rail operators have bought new carriages with private cabins and showers.",
        "A train journey produces far less carbon than the same trip by plane.",
        "Some routes still suffer from delays at borders and old tracks.",
        "Tickets for the most popular night trains sell out weeks in advance.",
    ),
    "volcanoes": (
        "Volcanoes form where molten rock rises through cracks in the earth's crust.",
        "Scientists watch them with instruments that measure small earthquakes and gas.",
        "An eruption can send ash high into the sky and close airports far away.",
        "The soil around old volcanoes is often very fertile for farming.",
        "Many people live near active volcanoes despite the danger.",
        "Warning systems give residents time to leave before a large eruption.",
    ),
    "libraries": (
        "Public libraries lend far more than books today.",
        "Many branches offer free internet, study rooms and classes for adults.",
        "Children's reading hours bring families to the library every week.",
        "Some libraries lend tools, board games and even musical instruments.",
        "Budget cuts have forced a few small branches to shorten their hours.",
        "Librarians help visitors find jobs, fill in forms and learn new skills.",
    ),
    "coffee": (
        "Coffee grows best in the hills of warm countries near the equator.",
        "The beans are the seeds of a red fruit that is picked by hand.",
        "After picking, the beans are dried, roasted and ground.",
        "Rising temperatures make it harder to grow coffee in some regions.",
        "Small farms produce most of the coffee sold around the world.",
        "Roasting longer gives the beans a darker colour and a bitter taste.",
    ),
    "glaciers": (
        "Glaciers are rivers of ice that move slowly down mountain valleys.",
        "Most glaciers in the world are shrinking as the climate warms.",
        "Melting ice feeds rivers that farms and towns depend on in summer.",
        "Scientists measure glaciers with stakes, satellites and drones.",
        "When a glacier retreats it leaves behind rocks and new lakes.",
        "Some ski resorts now cover their glaciers with white sheets in summer.",
    ),
    "bicycles": (
        "More people ride bicycles to work than ten years ago.",
        "Cities have built protected lanes that separate bikes from cars.",
        "Electric bicycles make long or hilly trips much easier.",
        "Cycling every day improves fitness and lowers stress.",
        "Bike theft remains a problem in busy city centres.",
        "Repair cafes teach riders to fix a flat tyre or a loose chain.",
    ),
    "forests": (
        "Forests cover about a third of the land on the planet.",
        "Trees store carbon in their wood, roots and the soil around them.",
        "Fires and logging destroy large areas of forest every year.",
        "Many animals and plants live only in old, undisturbed forests.",
        "Volunteers plant young trees to restore land that was cleared.",
        "A healthy forest also protects towns below it from floods.",
    ),
}
