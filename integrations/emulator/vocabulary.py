"""Word lists the seeded world draws from: people, repositories, PR titles.

Deliberately full of non-ASCII text (accents, CJK, emoji) because that is
what real organisations have and what naive encoders get wrong.
"""

FIRST_NAMES = (
    "Alice", "Bob", "Carlos", "Dana", "Eve", "Farah", "Grace", "Hiro", "Ivan",
    "Jun", "Kofi", "Lena", "Mateo", "Nadia", "Omar", "Priya", "Quinn", "Rosa",
    "Sven", "Tariq", "Uma", "Viktor", "Wen", "Xavier", "Yara", "Zoë", "José",
    "Søren", "Chloé", "Björn", "Łukasz", "Renée", "Ana", "Mohammed", "Fatima",
    "Olga", "Raj", "Mei", "Sakura", "Amara", "Noah", "Liam", "Emma", "Mia",
    "Lucas", "Elif", "Ayşe", "Dmitri", "Kwame", "Ingrid", "François", "Jürgen",
    "Agnieszka", "Siobhán", "Thandiwe", "Mikael", "Ngozi", "Pedro", "Lucía",
    "Tomás", "Hannah", "Isabel", "Jonas", "Kateřina", "Leïla", "Marek",
)  # fmt: skip

LAST_NAMES = (
    "Smith", "Müller", "Álvarez", "García", "Nguyen", "Kowalski", "Johansson",
    "O'Brien", "Dubois", "Rossi", "Tanaka", "Kim", "Patel", "Okafor", "Schmidt",
    "Novák", "Öztürk", "Hernández", "Silva", "Andersen", "Ivanova", "Chen",
    "Wang", "Singh", "Cohen", "Fernández", "Lefèvre", "Nakamura", "Mensah",
    "Brown", "Wilson", "Jensen", "Costa", "Haddad", "Yılmaz", "Nowak", "Kovač",
    "Larsen", "Moreau", "Bianchi", "Sato", "Park", "Gupta", "Adeyemi", "Weiß",
)  # fmt: skip

# Names that do not fold to ASCII, with the login their owners chose.
SPECIAL_PEOPLE = (
    ("Zoë Müller", "zmueller"),
    ("José Álvarez", "jalvarez"),
    ("李雷", "lilei"),
    ("韩梅梅", "hanmeimei"),
    ("王芳", "wangfang-dev"),
    ("田中 優子", "yuko-tanaka"),
    ("김민준", "minjun-kim"),
    ("Αλέξης Παπαδόπουλος", "apapadopoulos"),
    ("Дмитрий Иванов", "divanov"),
    ("محمد علي", "m-ali"),
    ("Nguyễn Thị Hương", "huongnt"),
    ("Łukasz Wróbel", "lwrobel"),
)

# Characters NFKD does not decompose into ASCII.
ASCII_FOLD = str.maketrans({"ł": "l", "Ł": "L", "ø": "o", "Ø": "O", "ß": "ss", "æ": "ae", "ı": "i", "đ": "d"})

ORG_NAMES = {
    "acme": "ACME Corporation",
    "globex": "Globex Corporation",
    "initech": "Initech",
    "umbrella": "Umbrella Corp.",
    "hooli": "Hooli",
}

REPO_NAMES = (
    "api", "web", "billing-service", "mobile-app", "infra", "auth-service",
    "data-pipeline", "design-system", "docs", "notifications", "search",
    "payments", "admin-portal", "analytics", "cli", "sdk-python", "sdk-js",
    "gateway", "ml-platform", "terraform-modules", "marketing-site",
    "support-tools", "status-page", "android", "ios", "desktop", "chat-service",
    "inventory", "recommendations", "feature-flags",
)  # fmt: skip

REPO_DESCRIPTIONS = (
    "Public REST and GraphQL API",
    "Customer-facing web application",
    "Invoicing, subscriptions and dunning",
    "iOS and Android app (React Native)",
    "Terraform and Kubernetes manifests",
    "OAuth2 / OIDC identity provider",
    "Batch and streaming ETL jobs",
    "Shared UI components ✨",
    "Developer documentation",
    None,
)

LANGUAGES = ("Python", "TypeScript", "Go", "Ruby", "Kotlin", "Swift", "Rust", "HCL")

TITLE_TEMPLATES = (
    "Fix naïve datetime handling ✨",
    "Fix {area} timeout when the upstream is slow",
    "Add {area} metrics",
    "Refactor {area} module",
    "Bump {dep} from {v1} to {v2}",
    "Handle emoji 🎉 in {area} payloads",
    "Support Unicode names (Zoë, José, 李雷) in {area}",
    "添加 {area} 的中文翻译",
    "{area}: 修复分页错误",
    "日本語のエラーメッセージを改善 ({area})",
    "WIP: new {area} flow 🚧",
    "Remove deprecated {area} endpoint",
    "Speed up {area} queries by 40% 🚀",
    "Document {area} configuration",
    'Revert "Refactor {area} module"',
    "Make {area} retries idempotent",
    "Upgrade to Python 3.12 in {area}",
    "Fix off-by-one in {area} pagination",
    "Add tests for {area} edge cases 🧪",
    "Rename {area} settings (breaking ⚠️)",
    "Improve {area} logging — less noise",
    "Fix crash on empty {area} response",
    "Use UTC everywhere in {area} 🕐",
    "Café mode: offline support for {area} ☕",
    "Gérer les caractères accentués dans {area}",
    "Korrigiere Umlaute (ä, ö, ü) in {area}",
    "Migrate {area} to the new queue",
    "Cache {area} lookups",
    "Drop support for legacy {area} clients",
    "Fix flaky {area} test",
)

TITLE_PREFIXES = ("", "", "", "", "feat: ", "fix: ", "chore: ", "[{area}] ", "🐛 ")

AREAS = (
    "auth", "billing", "checkout", "search", "webhooks", "export", "importer",
    "notifications", "dashboard", "CI", "sync", "cache", "onboarding", "i18n",
    "reports", "scheduler", "permissions", "rate limiter", "API client", "CLI",
)  # fmt: skip

DEPENDENCIES = (
    ("lodash", "4.17.20", "4.17.21"),
    ("django", "5.1.4", "5.2.1"),
    ("requests", "2.31.0", "2.32.3"),
    ("urllib3", "1.26.18", "2.2.2"),
    ("axios", "1.6.0", "1.7.4"),
    ("golang.org/x/net", "0.17.0", "0.23.0"),
)

REVIEW_BODIES = {
    "APPROVED": ("", "", "LGTM 👍", "Ship it 🚀", "看起来不错", "Looks good, thanks!"),
    "CHANGES_REQUESTED": (
        "Please add tests for the failure path.",
        "This breaks the naïve datetime case — see inline comments.",
        "Can we avoid the extra query here?",
    ),
    "COMMENTED": ("Nit: naming.", "Question inline.", "A few small comments 🙂", ""),
    "DISMISSED": ("", "Superseded by the latest push."),
}

COMMENT_BODIES = (
    "Should this be configurable?",
    "nit: typo",
    "Can we add a test for this branch?",
    "Does this handle non-ASCII input (e.g. “Zoë”)?",
    "👍",
    "Why not reuse the existing helper?",
    "この部分は後で直しましょう。",
)

FILE_PATHS = (
    "src/app/models.py",
    "src/app/views.py",
    "src/app/sync.py",
    "tests/test_sync.py",
    "web/src/components/Table.tsx",
    "README.md",
    "docs/configuration.md",
    "infra/main.tf",
)
