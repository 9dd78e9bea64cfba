// The widget's own words, in every language it speaks, and how a language is chosen.

export const STRINGS = {
  en: {
    title: 'Chat with us',
    subtitle: 'Typically replies in seconds',
    open: 'Open chat',
    close: 'Close chat',
    newConversation: 'New conversation',
    placeholder: 'Type your message…',
    inputLabel: 'Message',
    send: 'Send',
    retry: 'Retry',
    typing: 'Assistant is typing…',
    unavailable: 'The assistant is unavailable right now. Please try again later.',
    notSent: 'Not sent.',
    rateLimited: 'You are sending messages too quickly. Please wait a moment.',
    tooLong: 'This message is too long.',
    invalid: 'This message could not be sent.',
    failedReply: 'Reply failed',
    failedReplyFallback: 'Sorry, something went wrong. Please try again.',
    empty: 'Hi there! How can we help you today?',
    log: 'Conversation',
    you: 'You',
    assistant: 'Assistant',
    staff: 'Support agent',
    system: 'System',
    image: 'Image',
    poweredBy: 'Powered by Chatdesk',
  },
  'zh-Hans': {
    title: '在线客服',
    subtitle: '通常几秒内回复',
    open: '打开在线客服',
    close: '关闭',
    newConversation: '新对话',
    placeholder: '请输入消息…',
    inputLabel: '消息',
    send: '发送',
    retry: '重试',
    typing: '助手正在输入…',
    unavailable: '助手暂时无法使用，请稍后再试。',
    notSent: '发送失败。',
    rateLimited: '发送太频繁，请稍候再试。',
    tooLong: '消息过长。',
    invalid: '该消息无法发送。',
    failedReply: '回复失败',
    failedReplyFallback: '抱歉，出现了问题，请稍后重试。',
    empty: '您好！有什么可以帮您？',
    log: '对话记录',
    you: '我',
    assistant: '智能助手',
    staff: '人工客服',
    system: '系统',
    image: '图片',
    poweredBy: '由 Chatdesk 提供支持',
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
