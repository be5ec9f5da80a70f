// The console's texts, English and Chinese, chosen by the browser's language.
const STRINGS = {
  en: {
    title: "chatd admin", logout: "Sign out", signIn: "Sign in", signInButton: "Sign in", token: "Token",
    signInHelp: "Paste the token of a credential with role admin. It is kept in this tab only (sessionStorage).",
    overview: "Overview", charts: "Last minutes", chartMessages: "Messages per second (in, out)",
    chartConnections: "Connections", rooms: "Rooms", room: "Room", members: "Online", lastSeq: "Last seq",
    rate: "Messages/s", connections: "Connections", roomFilter: "Room filter", name: "Name", identity: "Identity",
    address: "Address", since: "Connected", actions: "Actions", moderation: "Moderation", action: "Action",
    mute: "Mute", ban: "Ban", unmute: "Unmute", unban: "Unban", user: "User", userPlaceholder: "credential:alice",
    duration: "Duration", d5m: "5 minutes", d1h: "1 hour", d1d: "1 day", d7d: "7 days", dForever: "Until lifted",
    reason: "Reason", apply: "Apply", seq: "Seq", deleteMessage: "Delete message", purgeUser: "Erase all their messages",
    audit: "Audit log", filter: "Filter", any: "Any", actor: "Actor", limit: "Limit", when: "When", target: "Target",
    webhooks: "Webhooks", hook: "Hook", pending: "Pending", failed: "Failed", lastSuccess: "Last success",
    lastError: "Last error", kick: "Kick", retry: "Retry failed",
    version: "Version", uptime: "Uptime", generation: "Config generation", lastReload: "Last reload",
    cluster: "Cluster", standalone: "standalone", never: "never", ready: "Ready", yes: "yes", no: "no",
    reloadOk: (g, at) => `ok (generation ${g}, ${at})`, reloadFailed: (e, at) => `failed: ${e} (${at})`,
    clusterInfo: (node, peers) => `node ${node}, ${peers} peer(s)`,
    updated: (at) => `updated ${at}`, pollFailed: (e) => `update failed: ${e}`,
    badToken: "That token was refused (missing, invalid or expired).",
    notAdmin: "That token is valid but its role is not admin.",
    signedOutExpired: "Signed out: the token is no longer accepted.",
    confirmKick: (n, r) => `Kick ${n} from ${r}? Their connection closes (they may reconnect).`,
    confirmRestrict: (a, u, d) => `${a} ${u}${d ? " for " + d : ""}?`,
    confirmDelete: (r, s) => `Delete message ${s} of ${r} for everyone?`,
    confirmPurge: (u) => `Erase every message of ${u}? This cannot be undone.`,
    confirmRetry: (h) => `Retry the failed events of ${h}?`,
    done: (what) => `Done: ${what}`, refused: (e) => `Refused: ${e}`,
    truncated: (shown, total) => `Showing ${shown} of ${total} connections.`,
    noRooms: "No rooms in use.", noConnections: "No connections.", noAudit: "No entries.", noWebhooks: "No webhooks.",
    seconds: (s) => `${s}s`, minutes: (m) => `${m}m`, hours: (h, m) => `${h}h ${m}m`, days: (d, h) => `${d}d ${h}h`,
    noData: "Collecting samples…", legendIn: "in/s", legendOut: "out/s",
  },
  zh: {
    title: "chatd 管理控制台", logout: "退出", signIn: "登录", signInButton: "登录", token: "令牌",
    signInHelp: "粘贴角色为 admin 的凭据令牌。令牌只保存在此标签页中(sessionStorage)。",
    overview: "概览", charts: "最近几分钟", chartMessages: "每秒消息数(收、发)",
    chartConnections: "连接数", rooms: "房间", room: "房间", members: "在线", lastSeq: "最新序号",
    rate: "消息/秒", connections: "连接", roomFilter: "按房间筛选", name: "名称", identity: "身份",
    address: "地址", since: "已连接", actions: "操作", moderation: "管理", action: "操作",
    mute: "禁言", ban: "封禁", unmute: "解除禁言", unban: "解除封禁", user: "用户", userPlaceholder: "credential:alice",
    duration: "时长", d5m: "5 分钟", d1h: "1 小时", d1d: "1 天", d7d: "7 天", dForever: "直到解除",
    reason: "原因", apply: "执行", seq: "序号", deleteMessage: "删除消息", purgeUser: "清除其全部消息",
    audit: "审计日志", filter: "筛选", any: "全部", actor: "执行者", limit: "条数", when: "时间", target: "对象",
    webhooks: "Webhook", hook: "名称", pending: "待发送", failed: "失败", lastSuccess: "上次成功",
    lastError: "上次错误", kick: "踢出", retry: "重试失败项",
    version: "版本", uptime: "运行时间", generation: "配置代数", lastReload: "上次重载",
    cluster: "集群", standalone: "单机", never: "从未", ready: "就绪", yes: "是", no: "否",
    reloadOk: (g, at) => `成功(第 ${g} 代,${at})`, reloadFailed: (e, at) => `失败:${e}(${at})`,
    clusterInfo: (node, peers) => `节点 ${node},${peers} 个对等节点`,
    updated: (at) => `更新于 ${at}`, pollFailed: (e) => `更新失败:${e}`,
    badToken: "令牌被拒绝(缺失、无效或已过期)。",
    notAdmin: "令牌有效,但其角色不是 admin。",
    signedOutExpired: "已退出:令牌不再被接受。",
    confirmKick: (n, r) => `将 ${n} 踢出 ${r}?其连接将被关闭(可重新连接)。`,
    confirmRestrict: (a, u, d) => `${a} ${u}${d ? ",时长 " + d : ""}?`,
    confirmDelete: (r, s) => `为所有人删除 ${r} 的第 ${s} 条消息?`,
    confirmPurge: (u) => `清除 ${u} 的全部消息?此操作无法撤销。`,
    confirmRetry: (h) => `重试 ${h} 的失败事件?`,
    done: (what) => `完成:${what}`, refused: (e) => `被拒绝:${e}`,
    truncated: (shown, total) => `显示 ${total} 个连接中的 ${shown} 个。`,
    noRooms: "没有使用中的房间。", noConnections: "没有连接。", noAudit: "没有记录。", noWebhooks: "没有 Webhook。",
    seconds: (s) => `${s} 秒`, minutes: (m) => `${m} 分`, hours: (h, m) => `${h} 小时 ${m} 分`, days: (d, h) => `${d} 天 ${h} 小时`,
    noData: "正在收集数据…", legendIn: "收/秒", legendOut: "发/秒",
  },
};

export const lang = (navigator.languages || [navigator.language || "en"]).some((l) => /^zh\b/i.test(l)) ? "zh" : "en";
export const t = STRINGS[lang];

/// Fills every element marked data-i18n (text) or data-i18n-placeholder.
export function translatePage() {
  document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
  document.title = t.title;
  for (const el of document.querySelectorAll("[data-i18n]")) el.textContent = t[el.dataset.i18n];
  for (const el of document.querySelectorAll("[data-i18n-placeholder]")) el.placeholder = t[el.dataset.i18nPlaceholder];
}

export function duration(seconds) {
  const s = Math.floor(seconds);
  if (s < 60) return t.seconds(s);
  if (s < 3600) return t.minutes(Math.floor(s / 60));
  if (s < 86400) return t.hours(Math.floor(s / 3600), Math.floor((s % 3600) / 60));
  return t.days(Math.floor(s / 86400), Math.floor((s % 86400) / 3600));
}

export function time(epochSeconds) {
  return new Date(epochSeconds * 1000).toLocaleString(lang === "zh" ? "zh-CN" : "en");
}
