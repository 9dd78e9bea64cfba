// The widget's own words, in every language it speaks, and how a language is chosen.
//
// Texts the server writes (error messages, CHAT_FAILED_REPLY_TEXT...) are in SERVER_LANG:
// the widget shows its own words for an error's code instead, and a failed reply's stored
// text only when the visitor reads SERVER_LANG too.

export const SERVER_LANG = 'en';

export const STRINGS = {
  en: {
    title: 'Chat with us',
    subtitle: 'Typically replies in seconds',
    open: 'Open chat',
    hide: 'Hide chat',
    close: 'Close chat',
    newConversation: 'New conversation',
    placeholder: 'Type your message…',
    inputLabel: 'Message',
    send: 'Send',
    retry: 'Retry',
    edit: 'Edit',
    counter: '{n} / {max}',
    overLimit: '{k} characters too many',
    overLimitOne: '1 character too many',
    typing: 'Assistant is typing…',
    unavailable: 'The assistant is unavailable right now. Please try again later.',
    notSent: 'Not sent.',
    rateLimited: 'You are sending messages too quickly. Please wait a moment.',
    tooManyPending: 'Please wait for the answer before sending more.',
    tooLong: 'This message is too long.',
    invalid: 'This message could not be sent.',
    failedReply: 'Reply failed',
    failedReplyFallback: 'Sorry, something went wrong. Please try again.',
    budgetExceeded: "Sorry, I can't answer right now. A human agent can still help you.",
    empty: 'Hi there! How can we help you today?',
    log: 'Conversation',
    youSaid: 'You said:',
    assistantSaid: 'Assistant said:',
    staffSaid: 'Support agent said:',
    systemSaid: 'System message:',
    staff: 'Support agent',
    image: 'Image',
    poweredBy: 'Powered by Chatdesk',
    toolConfirm: 'Confirm',
    toolCancel: 'Cancel',
    toolConfirmed: 'Confirmed',
    toolCancelled: 'Cancelled',
    toolDecided: 'Already answered',
    toolWorking: 'Using a tool…',
  },
  'zh-Hans': {
    title: '在线客服',
    subtitle: '通常几秒内回复',
    open: '打开在线客服',
    hide: '收起在线客服',
    close: '关闭在线客服',
    newConversation: '新对话',
    placeholder: '请输入消息…',
    inputLabel: '消息',
    send: '发送',
    retry: '重试',
    edit: '编辑',
    counter: '{n} / {max}',
    overLimit: '超出 {k} 个字符',
    overLimitOne: '超出 1 个字符',
    typing: '助手正在输入…',
    unavailable: '助手暂时无法使用，请稍后再试。',
    notSent: '发送失败。',
    rateLimited: '发送太频繁，请稍候再试。',
    tooManyPending: '请等待回复后再发送。',
    tooLong: '消息过长。',
    invalid: '该消息无法发送。',
    failedReply: '回复失败',
    failedReplyFallback: '抱歉，出现了问题，请稍后重试。',
    budgetExceeded: '抱歉，暂时无法自动回复，人工客服仍可为您提供帮助。',
    empty: '您好！有什么可以帮您？',
    log: '对话记录',
    youSaid: '你说：',
    assistantSaid: '助手说：',
    staffSaid: '人工客服说：',
    systemSaid: '系统消息：',
    staff: '人工客服',
    image: '图片',
    poweredBy: '由 Chatdesk 提供支持',
    toolConfirm: '确认',
    toolCancel: '取消',
    toolConfirmed: '已确认',
    toolCancelled: '已取消',
    toolDecided: '已回复',
    toolWorking: '正在使用工具…',
  },
};

export function normLang(value) {
  const l = String(value || '').toLowerCase();
  if (l.startsWith('zh')) return 'zh-Hans';
  if (l.startsWith('en')) return 'en';
  return null;
}

// `explicit` is the data-lang attribute; `preferred` the browser's languages, best first.
export function pickLang(explicit, preferred) {
  if (explicit) return normLang(explicit) || 'en';
  for (const l of preferred || []) {
    const n = normLang(l);
    if (n) return n;
  }
  return 'en';
}

// T[key] with {name} placeholders filled; `key + 'One'` when it exists and vars.k is 1.
export function fmt(T, key, vars) {
  const template = vars && vars.k === 1 && T[key + 'One'] ? T[key + 'One'] : T[key];
  return template.replace(/\{(\w+)\}/g, (m, name) => (vars && name in vars ? String(vars[name]) : m));
}
