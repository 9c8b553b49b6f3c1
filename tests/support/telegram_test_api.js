// Starts the npm package telegram-test-api (a fake Telegram Bot API server) for
// the Python tests: `node telegram_test_api.js <port>`; prints "ready <url>" once
// it listens and stops on SIGTERM or when stdin closes (the test process died).
const TelegramServer = require('telegram-test-api');
const { routes } = require('telegram-test-api/lib/routes');
const { getMe } = require('telegram-test-api/lib/routes/bot/getMe');

// telegram-test-api 4.2.1 answers getMe without `is_bot`, a field the Bot API
// always sends and python-telegram-bot 22 requires (Bot.initialize calls getMe).
// Same answer otherwise; nothing else of the package is changed.
routes[routes.indexOf(getMe)] = (app) => {
  app.all('/bot:token/getMe', (_req, res) => {
    res.sendResult({
      ok: true,
      result: { id: 666, is_bot: true, first_name: 'Test First name', username: 'TestNameBot' },
    });
  });
};

// It also returns the sent message with `date` in milliseconds where the Bot API
// uses Unix seconds (python-telegram-bot cannot parse the year 58000).
const addBotMessage = TelegramServer.prototype.addBotMessage;
TelegramServer.prototype.addBotMessage = function addBotMessageInSeconds(...args) {
  const sent = addBotMessage.apply(this, args);
  return { ...sent, date: Math.floor(sent.date / 1000) };
};

// And it drops `chat_instance` from callback queries, which the Bot API always
// sends: put back what the simulated user passed (or an id for the chat).
const formatUpdate = TelegramServer.formatUpdate;
TelegramServer.formatUpdate = function formatUpdateWithChatInstance(update) {
  const formatted = formatUpdate(update);
  if (formatted.callback_query) {
    const { callbackQuery } = update;
    formatted.callback_query.chat_instance = callbackQuery.chat_instance
      || String(callbackQuery.message && callbackQuery.message.chat && callbackQuery.message.chat.id);
  }
  return formatted;
};

// sendChatAction is not in the package: answer it as the Bot API does (true) and keep
// each action, which the simulated user reads with POST /chatActions {token, chatId}.
const chatActions = [];
const { unknownMethod } = require('telegram-test-api/lib/routes/bot/unknownMethod');
routes.splice(routes.indexOf(unknownMethod), 0, (app) => {
  app.all('/bot:token/sendChatAction', (req, res) => {
    const { chat_id: chatId, action } = req.body;
    chatActions.push({ token: req.params.token, chatId: String(chatId), action });
    res.sendResult({ ok: true, result: true });
  });
  app.post('/chatActions', (req, res) => {
    const { token, chatId } = req.body;
    res.sendResult({ ok: true, result: chatActions.filter((a) => a.token === token && a.chatId === String(chatId)) });
  });
});

const port = Number(process.argv[2]);
const server = new TelegramServer({ port, host: '127.0.0.1', storeTimeout: 600 });

// The package delivers to a webhook without awaiting the result; a refused
// delivery (which is what a webhook without the secret token must get) would
// otherwise end the process as an unhandled rejection.
process.on('unhandledRejection', (error) => {
  console.error(`webhook delivery failed: ${error && error.message}`);
});

async function stop() {
  await server.stop();
  process.exit(0);
}

server.start().then(() => {
  console.log(`ready ${server.config.apiURL}`);
  process.on('SIGTERM', stop);
  process.stdin.on('end', stop);
  process.stdin.resume();
});
