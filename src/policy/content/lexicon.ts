import type { ContentCategory } from "../../config/index.js";

/**
 * The built-in content filter's knowledge: weighted phrases per category, and benign phrases that
 * clear a harmful match they overlap ("kill the process", "shoot a photo").
 *
 * Weights: 1.0 is an intent phrase that blocks on its own at the default threshold; 0.5–0.9 are
 * strong signals that need company; below 0.5 are single words whose sum per category is capped
 * (WEAK_CAP), so a long essay about war never blocks on vocabulary alone. Every quantifier is bounded:
 * the stream guard relies on MAX_PHRASE as a true bound on a match's length.
 */
export interface LexiconEntry {
  category: ContentCategory;
  weight: number;
  pattern: string;
}

export const MAX_PHRASE = 240;
/** Sum of weights below 0.5 counted per category. */
export const WEAK_CAP = 0.6;
export const DEFAULT_THRESHOLD = 1;

const W = "[\\w'-]{1,24}";
const ws = (n: number) => `(?: ${W}){0,${n}}`;

/** Someone asking for, or announcing, a way to do something. */
const INTENT =
  "(?:how (?:do|can|could|would|should|might) (?:i|you|we|one|someone)|where (?:can|do|could|would) (?:i|you|we|one)|how to|(?:best |easiest |quickest |fastest )?ways? to|" +
  "help me(?: to)?|teach me(?: how)?(?: to)?|show me how to|tell me how to|explain how to|instructions? (?:for|on|to)|" +
  "steps? to|step[- ]by[- ]step (?:guide |instructions )?(?:to|for|on)|guide (?:to|for|on)|" +
  "i (?:really )?(?:want|need|plan|intend|am going|'m going|am planning|'m planning|wanna|gotta|have) to|" +
  "i(?:'m| am) (?:gonna|about to|ready to)|i wanna|i will|i'll|i'm going to|let's|we should|we're going to|we will)";

/** A person as the object of a violent verb; "a child process" is not one. */
const PERSON =
  "(?:some(?:one|body)|people|him|her|them|everyone|every(?:one|body)|" +
  "(?:a|an|my|his|her|their|the|that|this|our|your|those|these)(?: " + W + ")? " +
  "(?:wife|husband|boss|neighbou?r|teacher|mom|mother|dad|father|brother|sister|friend|ex|coworker|co-worker|classmate|" +
  "family|partner|girlfriend|boyfriend|son|daughter|kid|child|children|baby|roommate|landlord|guy|girl|man|woman|men|women|" +
  "person|student|president|senator|cop|police|officer|stranger|people|kids|guys|girls|students|cops)s?)" +
  "(?! (?:process|thread|task|node|element|component|class|object|item|row|entry|widget|window|pod|theme|ticket|directory|folder)e?s?\\b)";

const GROUP =
  "(?:jews|jewish people|muslims|arabs|blacks|black people|whites|white people|asians|mexicans|latinos|hispanics|" +
  "immigrants|refugees|gays|gay people|lesbians|trans people|transgender people|women|christians|hindus|sikhs|gypsies|" +
  "roma|africans|indians|chinese people|migrants|foreigners)";

const MINOR =
  "(?:a |an |my |the |some )?(?:minors?|child(?:ren)?|kids?|underage|[0-9]{1,2}[- ]year[- ]olds?|preteens?|" +
  "little (?:girls?|boys?)|young (?:girls?|boys?)|toddlers?|schoolgirls?|schoolboys?)";

const e = (category: ContentCategory, weight: number, ...patterns: string[]): LexiconEntry[] =>
  patterns.map((pattern) => ({ category, weight, pattern }));

export const harmfulEntries: readonly LexiconEntry[] = [
  // violence
  ...e(
    "violence",
    1,
    `${INTENT} (?:kill|murder|hurt|stab|shoot|strangle|poison|beat up|beat|assault|attack|torture|kidnap|choke|run over|maim|behead) ${PERSON}`,
    `${INTENT} (?:make|build|construct|assemble|create|manufacture|cook up|put together|get|buy)(?: (?:a|an|some|my own))?${ws(2)} ` +
      "(?:bombs?|explosives?|ieds?|pipe ?bombs?|molotovs?(?: cocktails?)?|nerve agents?|nerve gas|sarin|ricin|anthrax|bio-?weapons?|" +
      "chemical weapons?|dirty bombs?|ghost guns?|napalm|detonators?|grenades?|car bombs?|suicide vests?)",
    "(?:i|we)(?:'m| am|'re| are)? (?:going to|gonna|will|'ll|about to|want to|wanna) (?:kill|shoot|stab|murder|hurt|strangle|beat up|torture) " +
      "(?:you|y'all|all of you|every(?:one|body)|them all|people)",
    "shoot(?:ing)? up (?:a |the |my |our |this |that )?(?:school|mall|church|mosque|synagogue|temple|office|concert|club|classroom|workplace|campus|parade)",
    `(?:plan|planning|plot|plotting) (?:a|an|the) (?:mass shooting|massacre|terror(?:ist)? attack|bombing|attack on)`,
  ),
  ...e("violence", 0.6, `(?:kill|murder|stab|strangle|poison|torture|behead) ${PERSON}`, "mass (?:shooting|murder)s?"),
  ...e(
    "violence",
    0.25,
    "kill(?:s|ed|ing)?",
    "murder(?:s|ed|ing)?",
    "stab(?:s|bed|bing)?",
    "shoot(?:s|ing)?",
    "shot",
    "bomb(?:s|ed|ing)?",
    "explosives?",
    "guns?",
    "weapons?",
    "attack(?:s|ed|ing)?",
    "assault(?:s|ed)?",
    "massacre",
    "behead(?:ed|ing)?",
    "tortur(?:e|ed|ing)",
    "execut(?:e|ed|ion)",
    "slaughter(?:ed)?",
    "bloodshed",
  ),
  // self-harm
  ...e(
    "self_harm",
    1,
    "(?:kill|hurt|harm|cut|burn|hang|poison|shoot|starve|drown) (?:myself|my ?self)",
    "(?:commit(?:ting)?|considering|thinking about|contemplating|attempt(?:ing)?) suicide",
    "(?:end|take) (?:my own|my) life",
    "i (?:just )?(?:want|wanna|wish i could|am going|'m going) (?:to )?die",
    "i don'?t want to (?:live|be alive|exist)(?: anymore)?",
    `(?:how many|what dose of|how much)${ws(3)} (?:to|would|will|does it take to|do i need to) (?:kill (?:me|myself)|die|overdose|od)`,
    `${INTENT} (?:overdose|od|die|disappear forever|end it all)`,
    "suicide (?:methods?|notes?|plans?)",
    "painless (?:way|ways|method|methods) to (?:die|go)",
    "(?:no|not any) reason to (?:live|go on)",
  ),
  ...e("self_harm", 0.6, "better off dead", "(?:wish|wishing) i (?:was|were) dead", "self[- ]harm(?:ing)?"),
  ...e("self_harm", 0.25, "suicid(?:e|al)", "overdos(?:e|ed|ing)", "cutting myself"),
  // hate
  ...e(
    "hate",
    1,
    `(?:all |those |these |the |fucking |filthy )?${GROUP} (?:are|is) (?:all |just |nothing but |a bunch of |like |literally )?` +
      "(?:subhuman|sub-human|vermin|animals|parasites|cockroaches|rats|a disease|a plague|inferior|savages|filth|scum|trash|apes|monkeys|dogs|a cancer)",
    `(?:exterminate|eradicate|wipe out|gas|kill all|get rid of all|deport all|purge|lynch) (?:the |all |those |these |every )?(?:${W} )?${GROUP}`,
    `${GROUP} (?:should|must|need to|deserve to|ought to) (?:all )?(?:be )?(?:die|exterminated|wiped out|gassed|eradicated|killed|shot|hanged|lynched|burned)`,
    "(?:heil hitler|sieg heil|gas the)",
  ),
  ...e("hate", 0.6, "(?:racial|ethnic) (?:cleansing|purity)", "white (?:power|supremacy|genocide)", "race war", "master race"),
  ...e("hate", 0.25, "subhuman", "vermin", "inferior race", "degenerates"),
  // sexual
  ...e(
    "sexual",
    1,
    `(?:sex(?:ual)?|nude|naked|explicit|erotic|porn(?:ographic)?|lewd|intimate)${ws(4)} (?:with|of|involving|featuring|between|for|about) ${MINOR}`,
    "(?:child|kiddie|underage|teen|minor) (?:porn|pornography|nudes|sex|erotica)",
    `(?:write|describe|generate|create|tell me|give me)${ws(3)} (?:explicit|erotic|graphic|steamy|dirty|x-rated|nsfw|hardcore|sexual|sex|porn) ` +
      `(?:${W} ){0,2}(?:story|stories|scene|scenes|fanfic|fan fiction|content|roleplay|description|details|fantasy|chat)`,
    "(?:send|show|share) (?:me )?(?:your |some )?(?:nudes|naked (?:pics|photos|pictures))",
  ),
  ...e("sexual", 0.3, "porn(?:ography)?", "nudes?", "naked", "orgasms?", "erotic(?:a)?", "blowjobs?", "masturbat(?:e|ed|ing|ion)", "genitals?"),
  ...e("sexual", 0.2, "sex(?:ual)?"),
  // harassment
  ...e(
    "harassment",
    1,
    "(?:you(?:'re| are)|ur|u r|you r) (?:a |an |such an? |so |the most |just an? )?(?:worthless|pathetic|stupid|dumb|disgusting|ugly|fat|useless|brainless)" +
      `(?: ${W}){0,2} (?:piece of (?:shit|trash|garbage|crap)|loser|idiot|moron|waste of (?:space|air|oxygen)|bitch|whore|slut|retard|freak|failure|pig)`,
    "(?:go |just |you should |u should |why don'?t you |please )(?:kill|hang|shoot) yourself",
    "kys",
    "i know where you (?:live|work|sleep|go to school)",
    "i(?:'ll| will|'m going to| am going to|'m gonna) (?:find|hunt|track) you(?: down)?",
    `${INTENT} (?:dox|doxx|stalk|harass|bully|humiliate|blackmail|threaten|intimidate|cyberbully|spy on|track) ${PERSON}`,
    "(?:post|leak|share|publish|spread) (?:her|his|their|someone'?s|my ex'?s) (?:nudes|naked (?:pics|photos)|home address|address|phone number|private (?:photos|pics|messages))",
    "you (?:should|deserve to) (?:die|suffer|be raped|get raped)",
  ),
  ...e("harassment", 0.6, "(?:nobody|no one|everyone) (?:loves|likes|wants|cares about|hates) you", "dox(?:x)?(?:ing|ed)?"),
  ...e("harassment", 0.25, "idiot", "stupid", "loser", "moron", "worthless", "pathetic", "shut up", "ugly", "bitch", "slut", "whore", "retard"),
  // illicit
  ...e(
    "illicit",
    1,
    `${INTENT} (?:buy|sell|get|make|cook|synthesi[sz]e|manufacture|grow|produce|smuggle|import|extract)(?: ${W}){0,2} ` +
      "(?:meth(?:amphetamine)?|crystal meth|cocaine|crack|heroin|fentanyl|lsd|mdma|ecstasy|ketamine|ghb|opium|illegal drugs|drugs|narcotics|dmt|pcp)",
    `${INTENT} (?:launder|clean|wash)(?: ${W}){0,2} (?:money|cash|funds|proceeds|bitcoin|crypto)`,
    `${INTENT} (?:hack|break|get|sneak) into(?: ${W}){0,3} (?:account|email|e-mail|phone|computer|network|wi-?fi|server|database|instagram|facebook|icloud|bank|system|house|home|car)s?`,
    `${INTENT} (?:steal|shoplift|rob|burgle|pickpocket|embezzle|hotwire)(?: ${W}){0,4}`,
    `${INTENT} (?:make|print|produce|create|forge)(?: ${W})? (?:counterfeit|fake|forged) (?:money|bills|cash|currency|ids?|passports?|documents?|driver'?s licen[sc]es?|checks?|cheques?)`,
    `${INTENT} (?:write|create|make|build|code|deploy|spread|develop)(?: (?:a|an|some|my own))?(?: ${W})? ` +
      "(?:ransomware|keylogger|malware|virus|trojan|rootkit|botnet|spyware|phishing (?:emails?|pages?|sites?|kits?|campaigns?)|credit card skimmer|skimmer)",
    `${INTENT} (?:evade|dodge|cheat on) (?:my |paying |the )?tax(?:es)?`,
    `${INTENT} buy (?:a )?(?:gun|firearm|weapon|rifle|pistol)s? (?:without (?:a )?(?:background check|license|licence|id)|illegally|on the dark ?web)`,
    "(?:sell|buy)(?:ing)? (?:stolen|fake|cloned) (?:credit cards?|identities|ids|accounts|card numbers)",
  ),
  ...e("illicit", 0.5, "(?:dark ?web|darknet) (?:markets?|vendors?|drugs)", "money laundering", "identity theft"),
  ...e(
    "illicit",
    0.25,
    "meth(?:amphetamine)?",
    "cocaine",
    "heroin",
    "fentanyl",
    "launder(?:ing)?",
    "counterfeit",
    "smuggl(?:e|ed|ing)",
    "stolen",
    "ransomware",
    "malware",
  ),
];

const O = "(?:the |a |an |this |that |all |my |your |its |his |her |our |their |off |each |every |some |any )?";

/** Ordinary uses of alarming words. A harmful match that overlaps one of these is dropped. */
export const benignPatterns: readonly string[] = [
  `kill(?:s|ed|ing)? (?:-?\\d{1,2} )?${O}(?:${W} )?(?:process(?:es)?|tasks?|jobs?|threads?|containers?|pods?|servers?|sessions?|tabs?|apps?|` +
    "applications?|programs?|commands?|query|queries|connections?|switch(?:es)?|features?|bills?|time|lights?|engines?|mood|vibe|buzz|weeds?|" +
    "bacteria|germs|pests?|bugs?|batteries|battery|signal|daemons?|workers?|instances?|services?|pid|nodes?|branches?|builds?|music|radio|tv|noise|power)",
  "(?:joke|jokes|show|set|performance|comedian|comic|crowd|audience|band|song|outfit|look|speech|pitch|demo)(?: " + W + "){0,3} (?:killed|kills|killing)(?: it)?",
  "(?:killed|killing|killin') it",
  "killer (?:app|feature|deal|workout|view|instinct|smile|idea|combo|queen|whale|bee|sudoku|heels)s?",
  "(?:kill|killing) two birds",
  "dressed to kill",
  "(?:over|pain|weed ?|bug ?)killers?",
  "kill(?:ing)? time",
  `shoot(?:s|ing)? ${O}(?:${W} )?(?:photos?|pictures?|pics|videos?|films?|movies?|scenes?|portraits?|weddings?|footage|hoops|baskets?|commercials?|` +
    "episodes?|pilot|documentary|content|emails?|messages?|texts?|notes?|breeze|the moon|for the stars|first|straight|ads?|campaigns?|b-roll)",
  "shoot (?:me|us|him|her|them) an? (?:email|e-mail|message|text|note|dm|line|quick note)",
  "(?:photo|video|film|fashion|product|engagement|wedding)[ -]?shoots?",
  "shot (?:glass|glasses|of espresso|of whiskey|of tequila|of vodka|put|clock|on goal|list)",
  "(?:flu|booster|vaccine|covid|tetanus|allergy) shots?",
  "(?:screen|hot|big|long|great|nice|good|best|mug|money|slap|snap|head|one)[ -]?shots?",
  `shot ${O}(?:${W} )?(?:video|photo|film|scene|movie|picture|footage|episode|commercial)s?`,
  `execut(?:e|es|ed|ing|ion) ${O}(?:${W} )?(?:scripts?|commands?|code|query|queries|programs?|plans?|orders?|tasks?|functions?|jobs?|trades?|` +
    "strateg(?:y|ies)|contracts?|statements?|tests?|migrations?|steps?|instructions?|binar(?:y|ies)|files?|workflows?|pipelines?|transactions?|" +
    "requests?|operations?|vision|will|sql|batch|notebook|cells?|tool|tool calls?)",
  "execut(?:ion|ed) (?:time|plan|context|environment|engine|order|speed|policy|model|flow|successfully|without errors)",
  `bomb(?:ed|ing)? ${O}(?:test|exam|interview|audition|presentation|quiz|midterm|final|pitch)s?`,
  "(?:bath|photo|love|cherry|f|stink|smoke|glitter|seed|calorie)[ -]?bomb(?:s|ed|ing)?",
  "(?:box[- ]office|total|complete|absolute) bomb",
  "(?:the|da) bomb(?: dot com)?",
  "(?:heart|panic|asthma|anxiety|shark|dog|bee|gout|migraine) attacks?",
  "attack (?:surface|vector|the problem|this problem|the issue|it head[- ]on)s?",
  "(?:ddos|dos|brute[- ]force|replay|timing|side[- ]channel|injection|xss|csrf|phishing|mitm|dictionary|supply[- ]chain) attacks?",
  "(?:drug|drugs) (?:tests?|stores?|interactions?|dosage|trials?|discovery|development|policy|prices?|rehab|store|label)",
  "(?:prescription|over[- ]the[- ]counter|otc|generic) drugs?",
  "(?:life|growth|productivity|cooking) hacks?",
  "hack(?:athons?| on| together| away)",
  "hacker news",
  "die[- ]?(?:cast|hard)",
  "dying (?:of laughter|to (?:see|know|try|go|meet|hear))",
  "to die for",
  `(?:battery|phone|laptop|plant|plants|car|engine|server|disk|drive)${ws(1)} (?:died|is dying|will die|dies)`,
  "hang (?:out|up|on|in there|tight|a picture|the picture|the laundry|a shelf)",
  "suicide (?:squad|prevention|hotline|awareness|rates?|statistics|helpline)",
  "(?:crisis|suicide) (?:hotline|helpline|line|text line)",
  `nuke ${O}(?:${W} )?(?:database|cache|directory|db|folder|files?|branch|repo|node_modules|container|build|leftovers|food|popcorn|burrito)`,
  "cut(?:ting)? (?:myself )?(?:corners|costs?|the cake|a slice|it out|back|ties|the budget|my hair|your hair|the grass|the rope|the wire|the cord|a release|a branch|the tag)",
  "cut myself (?:while|when|on|shaving|cooking|chopping|by accident|accidentally|a break|some slack)",
  "(?:murder|crime|detective|mystery|thriller|horror|true crime) (?:mystery|mysteries|novels?|podcasts?|books?|board|shows?|series|films?|movies?|games?|stor(?:y|ies)|party|documentary)",
  `murder(?:ed)? ${O}(?:song|karaoke|performance|track|game|dance floor|crowd)`,
  "murder of crows",
  `hurt ${O}(?:back|knee|feelings?|legs?|arms?|ankles?|wrists?|shoulders?|necks?|foot|feet|hands?|fingers?|toes?|head|eyes?|ears?|pride|chances|performance|sales)`,
  "(?:steal|stole|stealing|steals) (?:the )?(?:show|spotlight|scene|idea|ideas|my heart|a kiss|a glance|a base|bases|a look|focus|cycles|cpu|memory)",
  "(?:glue|nail|staple|spray|heat|water|nerf|squirt|caulk|caulking|grease|paint|hot glue|radar|ray|massage|tattoo|price) guns?",
  "(?:top|smoking|big|son of a) guns?",
  "jump(?:ed|ing|s)? the gun",
  "weapons? of choice",
  "secret weapon",
  "(?:blood|bloody) (?:test|tests|pressure|sugar|type|work|donation|bank|drive|orange|mary|cells?|vessels?|moon|count|panel)",
  "(?:sex|sexual) (?:education|ed|health|orientation|harassment training|discrimination|differences|chromosomes)",
  "(?:same|opposite)[- ]sex",
  "sex of the (?:baby|patient|animal|fish|plant)",
  "(?:naked|nude) (?:eye|truth|lipstick|colou?r|palette|wine|juice|pointer|url|put|call|singularity|mole[- ]rats?|shades?|heels|makeup)",
  "(?:stupid|dumb|silly) (?:question|questions|mistake|mistakes|bug|bugs|error|errors|me|of me|computer|printer|thing|things|idea|typo)",
  "(?:shut up and take my money|pet peeve)",
  "ugly (?:sweater|duckling|truth|code|hack|workaround)",
  "(?:stolen|stole) (?:the show|base|bases|focus|my heart)",
  "(?:lost|lose|losing) (?:my|the) (?:lottery|game|match)",
  "(?:attack|assault) on (?:titan|the (?:summit|record|problem|market))",
  "(?:salt|peppercorn|naked) (?:and|&) (?:vinegar|pepper)",
];
